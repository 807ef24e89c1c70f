"""``creditstream billing --month YYYY-MM [--bank B] [--json]``: per-bank statements.

Reads ``exchange.audit`` from the beginning (committed records only) and meters it
with :func:`streams.domain.billing.statements`: every audit record is one billable delivery,
so the statements are reproducible from the audit trail at any time. Records that do
not decode as audit records are not billed and are counted in a warning (``audit
verify`` shows where they are).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from typing import Any

from streams import topics
from streams.commands.common import seconds
from streams.domain.billing import month_bounds, render_statement, statements
from streams.errors import ConfigError
from streams.runtime.auditlog import read_audit
from streams.runtime.registry import codec_for
from streams.runtime.topicread import connect_timeout, topic_partitions
from streams.settings import Settings


def cmd_billing(args: argparse.Namespace, settings: Settings) -> int:
    try:
        month_bounds(args.month)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if args.bank is not None and not topics.valid_tenant(args.bank):
        raise ConfigError(f"invalid bank name {args.bank!r}: use a-z, 0-9 and '-'")
    undecodable = 0

    def records() -> Iterator[dict[str, Any]]:
        nonlocal undecodable
        for entry in read_audit(
            settings.kafka_client_config(),
            topic=args.topic,
            codec=codec_for(settings.schema_registry_url),
            idle_timeout=args.timeout,
        ):
            if entry.datum is None:
                undecodable += 1
            else:
                yield entry.datum

    found = statements(records(), args.month, args.bank)
    total = sum(st.total for st in found)
    if not found and args.bank is not None:
        # No deliveries: a bank that simply had none, or a name that is no bank at all?
        topic_partitions(
            settings.kafka_client_config(),
            topics.feed(args.bank),
            timeout=connect_timeout(args.timeout),
            missing=f"no bank {args.bank!r} is provisioned",
            purpose=f"check bank {args.bank}",
        )
    if undecodable:
        print(f"warning: {undecodable} record(s) are not audit records", file=sys.stderr)
    if args.json:
        out = {
            "month": args.month,
            "deliveries": total,
            "statements": [st.to_dict() for st in found],
        }
        print(json.dumps(out, indent=2))
        return 0
    if not found:
        who = f"bank {args.bank}" if args.bank else "any bank"
        print(f"No deliveries to {who} in {args.month}.")
        return 0
    print("\n\n".join(render_statement(st) for st in found))
    print(f"\n{total} delivery(ies) to {len(found)} bank(s) in {args.month}")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "billing",
        help="per-bank delivery statements for a month, from the audit trail",
        description=(
            "Counts the deliveries in exchange.audit for a calendar month (UTC) per bank: "
            "by purpose, distinct borrowers, first and last delivery."
        ),
    )
    parser.add_argument("--month", required=True, help="the calendar month, YYYY-MM (UTC)")
    parser.add_argument(
        "--bank", help="only this bank's statement (an error if no such bank is provisioned)"
    )
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument(
        "--topic", default=topics.EXCHANGE_AUDIT, help="audit topic (default %(default)s)"
    )
    parser.add_argument(
        "--timeout",
        type=seconds,
        default=30.0,
        help="give up after N s without progress (default 30)",
    )
    parser.set_defaults(handler=cmd_billing)

"""``creditstream audit``: who received this person's data; ``audit verify``: the chains.

``audit --national-id X|- [--since YYYY-MM-DD] [--json]`` pseudonymizes X with the
configured key (every loaded key version, so records from before a rotation are found),
reads ``exchange.audit`` from the beginning and lists each delivery of that borrower's
data: when, to which bank, for what purpose, under which consent reference and bank
customer reference, which profile version. It never prints the national ID nor the
borrower_id in full (an 8-character prefix identifies the person in the output). The
hash chain of the partition holding the person's records is verified on the way; if it
is broken the answer cannot be trusted and the exit code is 1.

``audit verify [--json]`` checks every partition's chain and prints per partition
``ok N records`` or each problem with its offset; exit 1 if any.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from streams import topics
from streams.commands.common import national_id, seconds
from streams.domain.audit import GENESIS, ChainVerifier, Problem
from streams.domain.privacy import (
    is_valid_national_id,
    normalize_national_id,
    pseudonymizer_from_settings,
)
from streams.errors import ConfigError
from streams.runtime.auditlog import AuditEntry, read_audit
from streams.runtime.registry import codec_for
from streams.settings import Settings


def _printable(text: object) -> str:
    """Audit fields come from the wire: never let them drive the terminal."""
    return "".join(c if c.isprintable() else "?" for c in str(text))


def iso_ms(epoch_ms: int) -> str:
    moment = datetime.fromtimestamp(epoch_ms / 1000, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _since_ms(since: str | None) -> int:
    if since is None:
        return -(2**63)
    try:
        day = datetime.strptime(since, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise ConfigError(f"--since must be YYYY-MM-DD, got {since!r}") from None
    return int(day.timestamp()) * 1000


class _Chains:
    """One streaming verifier per partition; the first offset decides whether the chain
    must start at genesis (offset 0) or older records may have aged out."""

    def __init__(self) -> None:
        self.by_partition: dict[int, ChainVerifier] = {}

    def add(self, entry: AuditEntry) -> None:
        verifier = self.by_partition.get(entry.partition)
        if verifier is None:
            start = GENESIS if entry.offset == 0 else None
            verifier = self.by_partition[entry.partition] = ChainVerifier(start)
        verifier.add(entry.offset, entry.datum)

    def result(self, partition: int) -> tuple[int, list[Problem]]:
        verifier = self.by_partition.get(partition)
        return (0, []) if verifier is None else (verifier.count, verifier.finish())


def _delivery_json(entry: AuditEntry) -> dict[str, Any]:
    d = entry.datum or {}
    return {
        "delivered_at": iso_ms(d["delivered_at"]),
        "bank": d["bank"],
        "purpose": d["purpose"],
        "consent_ref": d["consent_ref"],
        "customer_ref": d["customer_ref"],
        "profile_version": d["profile_version"],
        "partition": entry.partition,
        "offset": entry.offset,
    }


def cmd_query(args: argparse.Namespace, settings: Settings) -> int:
    national = normalize_national_id(national_id(args.national_id))
    if not is_valid_national_id(national):
        raise ConfigError("--national-id is not 4-32 letters/digits once normalized")
    since = _since_ms(args.since)
    pseudo = pseudonymizer_from_settings(
        settings.hmac_key, settings.hmac_key_file, settings.hmac_key_version
    )
    ids = {pseudo.borrower_id(national, v) for v in pseudo.versions}
    short = f"{min(ids)[:8]}…"
    chains, hits = _Chains(), []
    for entry in read_audit(
        settings.kafka_client_config(),
        topic=args.topic,
        codec=codec_for(settings.schema_registry_url),
        idle_timeout=args.timeout,
    ):
        chains.add(entry)
        d = entry.datum
        if d is not None and d.get("borrower_id") in ids and d["delivered_at"] >= since:
            hits.append(entry)
    checked = sorted({e.partition for e in hits})
    problems = {p: chains.result(p)[1] for p in checked}
    banks = Counter(str((e.datum or {})["bank"]) for e in hits)
    if args.json:
        out = {
            "borrower": short,
            "since": args.since,
            "deliveries": [_delivery_json(e) for e in hits],
            "by_bank": dict(sorted(banks.items())),
            "chain_ok": not any(problems.values()),
            "problems": [str(p) for ps in problems.values() for p in ps],
        }
        print(json.dumps(out, indent=2))
    else:
        since_txt = f" since {args.since}" if args.since else ""
        print(f"Deliveries of borrower {short}'s data{since_txt}:")
        for e in hits:
            d = _delivery_json(e)
            print(
                f"  {d['delivered_at']}  bank {_printable(d['bank'])}  "
                f"purpose {_printable(d['purpose'])}  consent {_printable(d['consent_ref'])}  "
                f"customer_ref {_printable(d['customer_ref'])}  "
                f"profile v{d['profile_version']}  (partition {e.partition} offset {e.offset})"
            )
        per_bank = ", ".join(f"{_printable(b)} {n}" for b, n in sorted(banks.items()))
        print(
            f"{len(hits)} delivery(ies) to {len(banks)} bank(s)" + (f": {per_bank}" if hits else "")
        )
        for p in checked:
            found = problems[p]
            print(f"audit chain of partition {p}: " + ("ok" if not found else "BROKEN"))
            for prob in found:
                print(f"  {_printable(prob)}")
    return 1 if any(problems.values()) else 0


def cmd_verify(args: argparse.Namespace, settings: Settings) -> int:
    chains, partitions = _Chains(), list[int]()
    for entry in read_audit(
        settings.kafka_client_config(),
        topic=args.topic,
        codec=codec_for(settings.schema_registry_url),
        idle_timeout=args.timeout,
        partitions_out=partitions,
    ):
        chains.add(entry)
    report = []
    for p in partitions:
        count, found = chains.result(p)
        verifier = chains.by_partition.get(p)
        anchored = verifier is None or verifier.start is not None
        report.append((p, count, found, anchored))
    bad = any(found for _, _, found, _ in report)
    if args.json:
        rows = [
            {
                "partition": p,
                "records": n,
                "ok": not f,
                "anchored": a,
                "problems": [str(x) for x in f],
            }
            for p, n, f, a in report
        ]
        print(json.dumps({"topic": args.topic, "ok": not bad, "partitions": rows}, indent=2))
        return 1 if bad else 0
    for p, count, found, anchored in report:
        note = "" if anchored else " (older records aged out: first link not checked)"
        if not found:
            print(f"{args.topic} partition {p}: ok {count} records{note}")
            continue
        print(f"{args.topic} partition {p}: {len(found)} problem(s) in {count} records{note}")
        for prob in found:
            print(f"  {_printable(prob)}")
    return 1 if bad else 0


def cmd_audit(args: argparse.Namespace, settings: Settings) -> int:
    if args.audit_command == "verify":
        return cmd_verify(args, settings)
    if not args.national_id:
        args.parser.error("give --national-id X (or the 'verify' subcommand)")
    return cmd_query(args, settings)


def _common(parser: argparse.ArgumentParser) -> None:
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


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "audit",
        help="who received a person's data, when and why; verify the audit chains",
        description=(
            "With --national-id: every delivery of that person's data (time, bank, purpose, "
            "consent reference). The ID is pseudonymized with the configured key and never "
            "printed. 'audit verify' checks the hash chain of every audit partition."
        ),
    )
    parser.add_argument(
        "--national-id",
        help="the person's national ID (never printed), or '-' to read it from stdin "
        "(keeps it out of shell history and the process list)",
    )
    parser.add_argument("--since", help="only deliveries on or after YYYY-MM-DD (UTC)")
    _common(parser)
    parser.set_defaults(handler=cmd_audit, audit_command=None, parser=parser)
    nested = parser.add_subparsers(dest="audit_command", metavar="verify")
    verify = nested.add_parser("verify", help="verify the hash chain of every audit partition")
    _common(verify)

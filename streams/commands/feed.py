"""``creditstream feed``, ``subscribe`` and ``revoke``: a bank without code uses its feed.

``feed --bank B`` reads ``banks.B.feed`` through the bank SDK
(:class:`streams.sdk.subscriber.BankSubscriber`): deduplicated and in version order per
customer_ref, as the bank's consumer group ``B.feed`` with its ledger in ``--state``, so
what was shown once is not shown again. ``--from-beginning`` instead reads everything
retained without joining the group or touching the ledger. One line per item: time,
customer_ref, kind, version, a few profile figures and the alerts; ``--json`` prints
one object per item. ``subscribe``/``revoke`` send one request each; the national ID is
never printed.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from streams import topics
from streams.commands.common import national_id, seconds
from streams.errors import ConfigError
from streams.runtime.topicread import CONNECT_TIMEOUT_S, connect_timeout, topic_partitions
from streams.sdk.subscriber import (
    BankSubscriber,
    FeedItem,
    check_identity,
    check_request,
    purposes,
)
from streams.settings import Settings

#: Where ``creditstream feed`` keeps a bank's ledger unless ``--state`` says otherwise.
DEFAULT_STATE_DIR = Path(".creditstream/banks")


def _printable(text: str) -> str:
    """Feed fields come from the wire: never let them drive the terminal."""
    return "".join(c if c.isprintable() else "?" for c in text)


def iso_ms(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def figures(profile: dict[str, Any] | None) -> str:
    """The few profile figures a risk officer looks at first."""
    if not profile:
        return ""
    parts = []
    if "open_loans" in profile:
        parts.append(f"open_loans={profile['open_loans']}")
    owed = profile.get("outstanding_principal")
    if isinstance(owed, dict) and owed:
        parts.append("owed=" + ",".join(f"{c} {a}" for c, a in sorted(owed.items())))
    if profile.get("current_days_past_due"):
        parts.append(f"dpd={profile['current_days_past_due']}")
    if profile.get("defaults"):
        parts.append(f"defaults={profile['defaults']}")
    return _printable(" ".join(parts))


def format_item(item: FeedItem) -> str:
    """One readable line per feed item."""
    line = (
        f"{iso_ms(item.produced_at)}  {_printable(item.customer_ref)}  {item.kind}  "
        f"v{item.profile_version}"
    )
    shown = figures(item.profile)
    if shown:
        line += f"  {shown}"
    if item.alerts:
        line += "  [" + "; ".join(_printable(f"{a.kind}: {a.reason}") for a in item.alerts) + "]"
    if item.message:
        line += f"  — {_printable(item.message)}"
    return line


def item_json(item: FeedItem) -> dict[str, Any]:
    out = asdict(item)
    out["alerts"] = [asdict(a) for a in item.alerts]
    out["produced_at"] = iso_ms(item.produced_at)
    out["ingested_at"] = None if item.ingested_at is None else iso_ms(item.ingested_at)
    return out


def require_bank_topic(settings: Settings, bank: str, topic: str, timeout: float) -> None:
    """Fail fast, in one line, when Kafka does not answer within ``timeout`` seconds or
    the bank has no such topic (it is not provisioned)."""
    if not topics.valid_tenant(bank):
        raise ConfigError(f"invalid bank name {bank!r}: use a-z, 0-9 and '-'")
    topic_partitions(
        settings.kafka_client_config(),
        topic,
        timeout=connect_timeout(timeout),
        missing=f"is bank {bank!r} provisioned?",
        purpose=f"use {topic}",
    )


def cmd_feed(args: argparse.Namespace, settings: Settings) -> int:
    state = args.state or DEFAULT_STATE_DIR / f"{args.bank}.ledger.sqlite"
    count = 0
    require_bank_topic(settings, args.bank, topics.feed(args.bank), args.timeout)
    with BankSubscriber(
        args.bank,
        settings,
        state_path=None if args.from_beginning else state,
        group=args.group,
        from_beginning=args.from_beginning,
    ) as sub:
        items = sub.feed(
            timeout=None if args.follow else args.timeout,
            limit=args.limit,
            stop_at_end=not args.follow,
        )
        try:
            for item in items:
                count += 1
                text = json.dumps(item_json(item)) if args.json else format_item(item)
                print(text, flush=True)
        except KeyboardInterrupt:
            pass  # --follow ends with Ctrl-C; what was shown is recorded as shown
        dropped = sub.dropped
    if not args.json:
        print(f"{count} item(s) from banks.{args.bank}.feed ({dropped} duplicate(s) dropped)")
    return 0


def expiry(text: str) -> datetime:
    """``YYYY-MM-DD``: consent ends at 00:00 UTC that day (never later than stated)."""
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def cmd_subscribe(args: argparse.Namespace, settings: Settings) -> int:
    nid = national_id(args.national_id)
    check_request(nid, args.customer_ref, args.consent_ref, args.purpose, args.expires)
    if args.expires <= datetime.now(UTC):
        raise ConfigError("--expires is not in the future")
    check_identity(nid, args.customer_ref, args.consent_ref)  # before any Kafka contact
    require_bank_topic(settings, args.bank, topics.subscriptions(args.bank), CONNECT_TIMEOUT_S)
    with BankSubscriber(args.bank, settings) as sub:
        sub.subscribe(nid, args.customer_ref, args.consent_ref, args.purpose, args.expires)
    print(
        f"subscription for {_printable(args.customer_ref)} sent to banks.{args.bank}.subscriptions "
        f"(purpose {args.purpose}, expires {iso_ms(args.expires)}); the answer arrives on the feed"
    )
    return 0


def cmd_revoke(args: argparse.Namespace, settings: Settings) -> int:
    nid = national_id(args.national_id)
    check_request(nid, args.customer_ref, args.consent_ref, "CREDIT_APPLICATION", None)
    check_identity(nid, args.customer_ref, None)  # before any Kafka contact
    require_bank_topic(settings, args.bank, topics.subscriptions(args.bank), CONNECT_TIMEOUT_S)
    with BankSubscriber(args.bank, settings) as sub:
        sub.revoke(args.customer_ref, nid, args.consent_ref)
    print(f"revocation for {_printable(args.customer_ref)} sent to banks.{args.bank}.subscriptions")
    return 0


def _request_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bank", required=True, help="bank name (a-z, 0-9, '-')")
    parser.add_argument(
        "--national-id",
        required=True,
        help="the borrower's national ID (4-32 letters/digits; spaces, '-', '.' and '/' "
        "are ignored), or '-' to read it from stdin (keeps it out of shell history and "
        "the process list)",
    )
    parser.add_argument("--customer-ref", required=True, help="the bank's customer reference")
    parser.add_argument("--consent-ref", required=True, help="reference of the signed consent")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    feed = sub.add_parser(
        "feed",
        help="show a bank's feed, deduplicated by (customer_ref, profile_version)",
        description=(
            "Reads banks.<bank>.feed through the bank SDK in the group <bank>.feed (or "
            "--group), remembering applied versions in --state so nothing is shown twice. "
            "Without --follow it stops at the end of the feed."
        ),
    )
    feed.add_argument("--bank", required=True, help="bank name (a-z, 0-9, '-')")
    feed.add_argument(
        "--from-beginning",
        action="store_true",
        help="read everything retained, without joining the group or using the ledger",
    )
    feed.add_argument("--follow", action="store_true", help="keep waiting for new records")
    feed.add_argument("--json", action="store_true", help="one JSON object per item")
    feed.add_argument("--limit", type=int, help="stop after N items")
    feed.add_argument(
        "--group", help="consumer group (default <bank>.feed; must start with '<bank>.')"
    )
    feed.add_argument(
        "--state",
        type=Path,
        help="ledger file (default .creditstream/banks/<bank>.ledger.sqlite)",
    )
    feed.add_argument(
        "--timeout",
        type=seconds,
        default=30.0,
        help="stop after N s without any record; also how long to wait for Kafka to answer "
        "(at most 10 s; default 30)",
    )
    feed.set_defaults(handler=cmd_feed)

    subscribe = sub.add_parser(
        "subscribe",
        help="ask for a borrower's profile feed under a consent",
        description="Sends one SUBSCRIBE request; the exchange answers on the bank's feed.",
    )
    _request_args(subscribe)
    subscribe.add_argument(
        "--purpose",
        required=True,
        choices=purposes(),
        help="what the bank uses the data for: %(choices)s",
    )
    subscribe.add_argument(
        "--expires", required=True, type=expiry, help="YYYY-MM-DD: consent ends 00:00 UTC that day"
    )
    subscribe.set_defaults(handler=cmd_subscribe)

    revoke = sub.add_parser(
        "revoke",
        help="stop a borrower's feed",
        description="Sends one REVOKE request; delivery for the customer_ref stops.",
    )
    _request_args(revoke)
    revoke.set_defaults(handler=cmd_revoke)

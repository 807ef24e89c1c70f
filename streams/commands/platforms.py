"""``creditstream platforms``: which platforms contribute, when each last sent data,
how much of it was refused, and the borrowers' objections each has open or let run
out — the compliance view a regulator asks for."""

from __future__ import annotations

import argparse
import json
import time

from confluent_kafka import KafkaException

from streams.clock import DAY_MS
from streams.commands.common import positive_days
from streams.commands.rejects import iso_ms
from streams.errors import BrokerError
from streams.ops.platforms import PlatformStats, platform_stats
from streams.runtime.registry import codec_for
from streams.runtime.topicread import CONNECT_TIMEOUT_S, cluster_metadata, kafka_reason
from streams.settings import Settings


def render(stats: list[PlatformStats], days: float, now_ms: int) -> str:
    """A plain table (pure)."""
    if not stats:
        return "no platform has ingest topics yet"
    lines = [
        f"platforms contributing in the last {days:g} days:",
        f"{'platform':<20}{'last record (UTC)':<26}{'ago':>8}{'records':>10}{'rejected':>10}"
        f"{'rate':>8}{'disputes':>10}{'unanswered':>12}  top reasons",
    ]
    for s in stats:
        last = iso_ms(s.last_record_ms) if s.last_record_ms else "never"
        ago = _ago(now_ms - s.last_record_ms) if s.last_record_ms else "-"
        reasons = ", ".join(f"{r} {n}" for r, n in s.reasons.most_common(3))
        lines.append(
            f"{s.platform:<20}{last:<26}{ago:>8}{s.records:>10}{s.rejects:>10}"
            f"{s.reject_rate:>8.1%}{s.disputes_open:>10}{s.disputes_unanswered:>12}  {reasons}"
        )
    late = [s.platform for s in stats if s.disputes_unanswered]
    if late:
        lines.append(
            f"UNANSWERED OBJECTIONS: {', '.join(late)} let borrowers' disputes pass their "
            "deadline without a correction or confirmation"
        )
    return "\n".join(lines)


def _ago(ms: int) -> str:
    seconds = max(0, ms // 1000)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def cmd_platforms(args: argparse.Namespace, settings: Settings) -> int:
    now = int(time.time() * 1000)
    conf = settings.kafka_client_config()
    cluster_metadata(conf, timeout=CONNECT_TIMEOUT_S, purpose="list the platforms' topics")
    try:
        stats = platform_stats(
            conf, now - int(args.days * DAY_MS), codec_for(settings.schema_registry_url), now
        )
    except KafkaException as exc:  # the broker went away half-way
        raise BrokerError(f"reading the platforms' topics failed: {kafka_reason(exc)}") from exc
    if args.json:
        rows = [
            {
                "platform": s.platform,
                "last_record_at": iso_ms(s.last_record_ms) if s.last_record_ms else None,
                "records": s.records,
                "rejects": s.rejects,
                "reject_rate": round(s.reject_rate, 4),
                "reasons": dict(s.reasons),
                "disputes_open": s.disputes_open,
                "disputes_unanswered": s.disputes_unanswered,
                "disputes_closed": dict(s.disputes_closed),
            }
            for s in stats
        ]
        print(json.dumps({"days": args.days, "platforms": rows}))
    else:
        print(render(stats, args.days, now))
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cmd = sub.add_parser(
        "platforms", help="which platforms contribute, their last data and rejects"
    )
    cmd.add_argument(
        "--days",
        type=positive_days,
        default=7.0,
        help="window in days (default 7, the ingest topics' retention)",
    )
    cmd.add_argument("--json", action="store_true", help="machine-readable output")
    cmd.set_defaults(handler=cmd_platforms)

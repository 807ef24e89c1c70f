"""``creditstream rejects``: a platform reads its own refused records, reasons plainly.

Reads ``ingest.<platform>.rejected`` from the beginning by manual assignment (a fresh,
never-committed group id: no offsets are stored, so reading never disturbs anyone),
until the end of every partition, ``--limit`` rejects, or forever with ``--follow``.
Each reject shows when, where the original was (topic:partition:offset, the key a
platform can look up), the reason code, the message and the size of the original bytes.
The original bytes themselves may hold personal data: only ``--show-bytes`` prints
them, as hex, for the platform's own debugging.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from streams import topics
from streams.commands.common import seconds
from streams.errors import ConfigError
from streams.runtime.topicread import read_from_start
from streams.settings import KafkaConf, Settings
from streams.wire.rejects import Reject, from_headers


def _printable(text: str) -> str:
    """Headers come from the wire: never let them drive the terminal."""
    return "".join(c if c.isprintable() else "?" for c in text)


def iso_ms(epoch_ms: int) -> str:
    moment = datetime.fromtimestamp(epoch_ms / 1000, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def format_reject(reject: Reject, show_bytes: bool = False) -> str:
    """One line per reject (plus a hex line with ``show_bytes``)."""
    line = (
        f"{iso_ms(reject.rejected_at_ms)}  {_printable(reject.key)}  "
        f"{_printable(reject.reason)}  {_printable(reject.message)}  "
        f"({len(reject.original)} bytes)"
    )
    return f"{line}\n    {reject.original.hex(' ')}" if show_bytes else line


def reject_json(reject: Reject, show_bytes: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "rejected_at": iso_ms(reject.rejected_at_ms),
        "source_topic": reject.source_topic,
        "source_partition": reject.source_partition,
        "source_offset": reject.source_offset,
        "reason": reject.reason,
        "message": reject.message,
        "size": len(reject.original),
    }
    if show_bytes:
        out["original_hex"] = reject.original.hex()
    return out


@dataclass(frozen=True, slots=True)
class NotAReject:
    """A record on the rejected topic without the reject headers (written by mistake)."""

    partition: int
    offset: int


def read_rejects(
    conf: KafkaConf,
    platform: str,
    *,
    follow: bool = False,
    limit: int | None = None,
    idle_timeout: float = 30.0,
) -> Iterator[Reject | NotAReject]:
    """Rejects of ``platform`` from the beginning (see the module docstring).

    Without ``follow`` it stops once every partition reported its end; ``idle_timeout``
    seconds without any progress raise :class:`BrokerError` instead of hanging.
    """
    count = 0
    if limit is not None and limit <= 0:
        return
    for msg in read_from_start(
        conf,
        topics.rejected(platform),
        f"{platform}.rejects",  # inside the platform's own group prefix (streams.domain.acl)
        missing=f"is platform {platform!r} provisioned?",
        follow=follow,
        idle_timeout=idle_timeout,
    ):
        try:
            reject = from_headers(msg.headers(), msg.value())
        except ValueError:
            yield NotAReject(msg.partition() or 0, msg.offset() or 0)
            continue
        count += 1
        yield reject
        if limit is not None and count >= limit:
            return  # at once: with --follow, waiting for one more record could be forever


def cmd_rejects(args: argparse.Namespace, settings: Settings) -> int:
    if not topics.valid_tenant(args.platform):
        raise ConfigError(f"invalid platform name {args.platform!r}: use a-z, 0-9 and '-'")
    reasons: Counter[str] = Counter()
    try:
        for item in read_rejects(
            settings.kafka_client_config(),
            args.platform,
            follow=args.follow,
            limit=args.limit,
            idle_timeout=args.timeout,
        ):
            if isinstance(item, NotAReject):
                print(
                    f"warning: partition {item.partition} offset {item.offset} "
                    "is not a reject record",
                    file=sys.stderr,
                )
                continue
            reasons[item.reason] += 1
            if args.json:
                print(json.dumps(reject_json(item, args.show_bytes)), flush=True)
            else:
                print(format_reject(item, args.show_bytes), flush=args.follow)
    except KeyboardInterrupt:
        pass  # --follow ends with Ctrl-C; what was shown stands
    if not args.json:
        by_reason = ", ".join(f"{k} {v}" for k, v in sorted(reasons.items()))
        total = sum(reasons.values())
        print(
            f"{total} reject(s) in {topics.rejected(args.platform)}"
            + (f": {by_reason}" if total else "")
        )
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "rejects",
        help="show a platform's refused records and why",
        description=(
            "Reads ingest.<platform>.rejected from the beginning: time, source "
            "topic:partition:offset, reason code, message and size of each refused record. "
            "The original bytes are not shown unless --show-bytes is given."
        ),
    )
    parser.add_argument("--platform", required=True, help="platform name (a-z, 0-9, '-')")
    parser.add_argument("--follow", action="store_true", help="keep waiting for new rejects")
    parser.add_argument("--limit", type=int, help="stop after N rejects")
    parser.add_argument("--json", action="store_true", help="one JSON object per reject")
    parser.add_argument(
        "--show-bytes", action="store_true", help="also print the original bytes as hex"
    )
    parser.add_argument(
        "--timeout",
        type=seconds,
        default=30.0,
        help="give up after N s without progress (default 30)",
    )
    parser.set_defaults(handler=cmd_rejects)

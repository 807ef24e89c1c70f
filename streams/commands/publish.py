"""``creditstream publish``: send a platform's JSON Lines file through the platform SDK.

Input convention (one, documented in ``--help``): each non-blank line is one JSON object,
the event in the ``schemas/examples/README.md`` JSON convention plus a ``"schema"``
member naming its record, ``"LoanEvent"`` or ``"ActivityEvent"``. Lines are checked
locally with the exchange's own rules; refused lines are reported by line number and
reason, never by content (it holds personal data). Parsing and the summary are pure
functions here so they are tested without a broker; :class:`ProgressLine` is shared with
``creditstream simulate``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, TextIO

from streams.errors import ConfigError
from streams.sdk.producer import DeliveryError, DeliveryReport, PlatformProducer, RefusedEventError
from streams.settings import Settings
from streams.wire.avrojson import JsonDatumError, json_to_datum
from streams.wire.schemas import ACTIVITY_EVENT, LOAN_EVENT

SCHEMAS = {"LoanEvent": LOAN_EVENT, "ActivityEvent": ACTIVITY_EVENT}


@dataclass(frozen=True, slots=True)
class Line:
    """A line that parsed into an event datum."""

    number: int
    schema_name: str
    datum: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a line was not sent (or not delivered). ``message`` never holds a value."""

    line: int
    reason: str
    message: str


def parse_line(number: int, text: str) -> Line | Refusal | None:
    """One JSON Lines line; None for a blank line."""
    if not text.strip():
        return None
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:  # exc.msg names the syntax problem, not the data
        return Refusal(number, "INVALID_JSON", f"not valid JSON ({exc.msg}, column {exc.colno})")
    if not isinstance(obj, dict):
        return Refusal(number, "INVALID_JSON", "line is not a JSON object")
    name = obj.pop("schema", None)
    if name is None:
        return Refusal(number, "MISSING_FIELD", 'no "schema" member (LoanEvent or ActivityEvent)')
    if name not in SCHEMAS:
        return Refusal(number, "WRONG_SCHEMA", '"schema" must be LoanEvent or ActivityEvent')
    try:
        return Line(number, SCHEMAS[name], json_to_datum(SCHEMAS[name], obj))
    except JsonDatumError as exc:
        return Refusal(number, str(exc.reason), exc.message)


def iter_lines(lines: Iterable[bytes | str]) -> Iterator[Line | Refusal]:
    """Parse every line (numbered from 1), skipping blank ones."""
    for number, raw in enumerate(lines, start=1):
        try:
            text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        except UnicodeDecodeError:
            yield Refusal(number, "INVALID_JSON", "line is not UTF-8")
            continue
        item = parse_line(number, text)
        if item is not None:
            yield item


@dataclass(slots=True)
class PublishSummary:
    """What happened to a file: counts plus every refused or failed line."""

    platform: str
    events: int = 0  # non-blank lines
    queued: int = 0
    delivered: int = 0
    undelivered: int = 0
    refused: list[Refusal] = field(default_factory=list)
    failed: list[Refusal] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.refused or self.failed or self.undelivered)

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    def on_delivery(self, report: DeliveryReport) -> None:
        """SDK callback: count deliveries, keep failures with their line (``ref``)."""
        if report.ok:
            self.delivered += 1
        else:
            line = report.ref if isinstance(report.ref, int) else 0
            self.failed.append(Refusal(line, "DELIVERY_FAILED", report.error or "unknown"))

    def render(self) -> str:
        lines = [
            f"platform {self.platform}: {self.events} events, {self.delivered} delivered, "
            f"{len(self.refused)} refused locally, {len(self.failed)} failed, "
            f"{self.undelivered} undelivered"
        ]
        if self.refused:
            by_reason = Counter(r.reason for r in self.refused)
            lines.append(
                "refused by reason: " + ", ".join(f"{k} {v}" for k, v in sorted(by_reason.items()))
            )
        for r in sorted(self.refused + self.failed, key=lambda r: r.line):
            lines.append(f"  line {r.line}: {r.reason} {r.message}")
        return "\n".join(lines)

    def to_json(self) -> str:
        return json.dumps(asdict(self))


def bar(done: int, total: int | None, width: int = 30) -> str:
    """``[######....] 120/400  30%``, or just the count when the total is unknown."""
    if not total:
        return f"{done}"
    filled = min(width, done * width // total)
    return f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {done * 100 // total:3d}%"


class ProgressLine:
    """One self-overwriting status line on a stream, at most ``every`` seconds apart."""

    def __init__(self, stream: TextIO, enabled: bool, every: float = 0.2) -> None:
        self.stream, self.enabled, self.every = stream, enabled, every
        self._last = 0.0

    def show(self, text: str, force: bool = False) -> None:
        now = time.monotonic()
        if self.enabled and (force or now - self._last >= self.every):
            self._last = now
            self.stream.write(f"\r{text}\x1b[K")
            self.stream.flush()

    def finish(self, text: str) -> None:
        if self.enabled:
            self.show(text, force=True)
            self.stream.write("\n")
            self.stream.flush()


def _count_lines(path: Path) -> int | None:
    try:
        with path.open("rb") as fh:
            return sum(1 for _ in fh)
    except OSError:
        return None


def open_input(path: Path) -> BinaryIO:
    """``path`` opened for reading; ConfigError (one line, no traceback) if it cannot be:
    missing, a directory, not readable."""
    try:
        return path.open("rb")
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None


def cmd_publish(args: argparse.Namespace, settings: Settings) -> int:
    summary = PublishSummary(args.platform)
    from_stdin = args.file == "-"
    source = sys.stdin.buffer if from_stdin else open_input(Path(args.file))
    total = None if from_stdin else _count_lines(Path(args.file))
    progress = ProgressLine(
        sys.stderr, sys.stderr.isatty() if args.progress is None else args.progress
    )
    try:
        with PlatformProducer(args.platform, settings, on_delivery=summary.on_delivery) as sdk:
            number = 0
            for item in iter_lines(source):
                number = item.line if isinstance(item, Refusal) else item.number
                summary.events += 1
                if isinstance(item, Refusal):
                    summary.refused.append(item)
                else:
                    try:
                        sdk.send(item.schema_name, item.datum, ref=item.number)
                        summary.queued += 1
                    except RefusedEventError as exc:
                        summary.refused.append(Refusal(item.number, exc.reason, exc.message))
                progress.show(f"publish {args.platform} {bar(number, total)}")
            progress.show(f"publish {args.platform} {bar(number, total)} flushing", force=True)
    except DeliveryError as exc:
        summary.undelivered = exc.undelivered
    finally:
        if not from_stdin:
            source.close()
    progress.finish(f"publish {args.platform}: {summary.delivered} delivered")
    print(summary.to_json() if args.json else summary.render())
    return summary.exit_code


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "publish",
        help="send a platform's events from a JSON Lines file",
        description=(
            'FILE holds one JSON object per line: the event plus a "schema" member, '
            '"LoanEvent" or "ActivityEvent". Decimals are strings ("125.50"), times ISO-8601 '
            'with an offset ("2026-06-01T09:30:00Z"), dates "YYYY-MM-DD", enums their symbol '
            "(see schemas/examples/README.md). Every line is checked with the exchange's "
            "rules before sending; refused lines are listed by number and reason."
        ),
        epilog="exit status: 0 when every event was delivered, 1 when any line was refused "
        "or not delivered",
    )
    parser.add_argument("--platform", required=True, help="platform name (a-z, 0-9, '-')")
    parser.add_argument("file", metavar="FILE", help="JSON Lines file, or - for stdin")
    parser.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar on stderr (default: when stderr is a terminal)",
    )
    parser.add_argument("--json", action="store_true", help="summary as one JSON object")
    parser.set_defaults(handler=cmd_publish)

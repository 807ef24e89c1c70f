"""``creditstream simulate``: publish the seeded simulator's records through the SDK.

:func:`run_simulation` provisions each simulated platform's topics, then sends every
:class:`~streams.simulator.load.SimRecord` through one :class:`PlatformProducer` per platform:
good records with ``send_loan``/``send_activity`` (so they pass the SDK's local checks),
bad ones with ``send_raw``. It paces to ``rate`` records/s when given and returns a
:class:`SimulationSummary` whose ``sent`` list says where each record landed, so a test
can check the exchange's output record by record. Any failed or undelivered record
raises :class:`~streams.sdk.producer.DeliveryError` after all producers were flushed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from confluent_kafka import KafkaException

from streams.clock import DAY_MS
from streams.commands.publish import ProgressLine, bar
from streams.errors import BrokerError
from streams.runtime.provision import ensure_platform
from streams.runtime.registry import codec_for
from streams.runtime.topicread import CONNECT_TIMEOUT_S, cluster_metadata, kafka_reason
from streams.sdk.producer import DeliveryError, DeliveryReport, PlatformProducer
from streams.settings import Settings
from streams.simulator.load import SimConfig, SimRecord, generate, platform_names
from streams.wire.rejects import Reason, reject_key


@dataclass(frozen=True, slots=True)
class SentRecord:
    """Where one simulated record landed. ``index`` is its place in the generated order."""

    index: int
    record: SimRecord
    topic: str
    partition: int
    offset: int

    @property
    def reject_key(self) -> str:
        """The key its reject must carry (``topic:partition:offset``) if it is bad."""
        return reject_key(self.topic, self.partition, self.offset)


@dataclass(frozen=True, slots=True)
class SimProgress:
    """A snapshot for progress displays."""

    sent: int
    total: int
    elapsed_s: float
    by_platform: dict[str, int]
    bad: int

    @property
    def rate(self) -> float:
        return self.sent / self.elapsed_s if self.elapsed_s > 0 else 0.0


@dataclass(frozen=True, slots=True)
class SimulationConfig:
    """A simulation run: what to generate and how to send it."""

    sim: SimConfig
    rate: float | None = None  # records per second; None sends as fast as possible
    partitions: int | None = None  # of each platform's topics; default settings.partitions
    provision: bool = True
    keep_records: bool = True  # keep ``sent`` (memory grows with events)
    progress: Callable[[SimProgress], None] | None = None
    progress_every_s: float = 0.5


@dataclass(slots=True)
class SimulationSummary:
    """Counts of what was delivered, and (``keep_records``) every record's place."""

    platforms: list[str]
    good_by_platform: dict[str, int] = field(default_factory=dict)
    bad_by_reason: dict[str, int] = field(default_factory=dict)
    sent: list[SentRecord] = field(default_factory=list)
    elapsed_s: float = 0.0

    @property
    def good(self) -> int:
        return sum(self.good_by_platform.values())

    @property
    def bad(self) -> int:
        return sum(self.bad_by_reason.values())

    def expected_rejects(self) -> dict[str, Reason]:
        """Reject key -> the reason the ingress must give, for every bad record sent."""
        return {s.reject_key: s.record.bad.reason for s in self.sent if s.record.bad}

    def bad_by_platform(self) -> Counter[tuple[str, str]]:
        """``(platform, reason) -> count`` of bad records sent (what reject metrics count)."""
        return Counter(
            (s.record.platform, s.record.bad.reason.value) for s in self.sent if s.record.bad
        )

    def good_records(self) -> list[SentRecord]:
        return [s for s in self.sent if s.record.bad is None]

    def render(self) -> str:
        rate = (self.good + self.bad) / self.elapsed_s if self.elapsed_s else 0.0
        good = ", ".join(f"{k} {v}" for k, v in self.good_by_platform.items())
        bad = ", ".join(f"{k} {v}" for k, v in sorted(self.bad_by_reason.items()))
        return (
            f"simulated {self.good + self.bad} records on {len(self.platforms)} platforms "
            f"in {self.elapsed_s:.1f} s ({rate:.0f}/s)\n"
            f"good by platform: {good or 'none'}\nbad by reason: {bad or 'none'}"
        )


def run_simulation(settings: Settings, config: SimulationConfig) -> SimulationSummary:
    """Provision, generate and send (see the module docstring)."""
    names = platform_names(config.sim)
    conf = settings.kafka_client_config()
    if config.provision:
        for name in names:
            try:
                ensure_platform(conf, name, config.partitions or settings.partitions)
            except (KafkaException, TimeoutError) as exc:  # Kafka went away or is too slow
                why = kafka_reason(exc) if isinstance(exc, KafkaException) else "timed out"
                raise BrokerError(f"creating the topics of platform {name} failed: {why}") from exc
    codec = codec_for(settings.schema_registry_url)
    summary = SimulationSummary(names, dict.fromkeys(names, 0), {})
    records: dict[int, SimRecord] = {}  # in flight, by index
    queued: Counter[str] = Counter()
    bad_queued = 0

    def delivered(report: DeliveryReport) -> None:
        if not isinstance(report.ref, int) or not report.ok:
            return  # failures are counted by the producer and raised at the end
        record = records.pop(report.ref)
        if record.bad is None:
            summary.good_by_platform[record.platform] += 1
        else:
            reason = record.bad.reason.value
            summary.bad_by_reason[reason] = summary.bad_by_reason.get(reason, 0) + 1
        if config.keep_records:
            summary.sent.append(
                SentRecord(report.ref, record, report.topic, report.partition, report.offset)
            )

    producers = {}
    start = time.monotonic()
    last_shown = 0.0
    try:
        for name in names:
            producers[name] = PlatformProducer(name, settings, on_delivery=delivered, codec=codec)
        for index, record in enumerate(generate(config.sim, codec.encode)):
            if config.rate:
                delay = start + index / config.rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            records[index] = record
            producer = producers[record.platform]
            if record.raw is not None:
                producer.send_raw(record.topic_kind, record.key, record.raw, ref=index)
                bad_queued += 1
            else:
                producer.send(record.schema_name, record.datum or {}, ref=index)
            queued[record.platform] += 1
            now = time.monotonic()
            if config.progress and now - last_shown >= config.progress_every_s:
                last_shown = now
                config.progress(
                    SimProgress(index + 1, config.sim.events, now - start, dict(queued), bad_queued)
                )
    finally:
        undelivered = sum(p.close(raise_errors=False) for p in producers.values())
    summary.elapsed_s = time.monotonic() - start
    if config.progress:
        config.progress(
            SimProgress(
                sum(queued.values()), config.sim.events, summary.elapsed_s, dict(queued), bad_queued
            )
        )
    failed = sum(p.stats.failed for p in producers.values())
    if failed or undelivered:
        raise DeliveryError(failed, undelivered)
    summary.sent.sort(key=lambda s: s.index)
    return summary


def parse_rate(text: str) -> float:
    """``500``, ``500/s`` or ``0`` (as fast as possible)."""
    try:
        value = float(text.removesuffix("/s"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a rate: {text!r} (e.g. 500/s)") from None
    if value < 0:
        raise argparse.ArgumentTypeError("rate must not be negative")
    return value


def render_progress(p: SimProgress) -> str:
    per = " ".join(f"{k} {v}" for k, v in p.by_platform.items())
    return f"simulate {bar(p.sent, p.total, 20)} {p.rate:.0f}/s  {per}  bad {p.bad}"


def cmd_simulate(args: argparse.Namespace, settings: Settings) -> int:
    sim = SimConfig(  # raises ConfigError (one line on stderr) for impossible settings
        now_ms=time.time_ns() // 1_000_000,
        platforms=args.platforms,
        borrowers=args.borrowers,
        events=args.events,
        bad_share=args.bad_share,
        seed=args.seed,
        period_ms=args.period_days * DAY_MS,
        platform_prefix=args.platform_prefix,
    )
    # One quick look first: an unreachable Kafka is one clear line, not a stuck run.
    cluster_metadata(
        settings.kafka_client_config(), timeout=CONNECT_TIMEOUT_S, purpose="publish the simulation"
    )
    line = ProgressLine(sys.stderr, sys.stderr.isatty() if args.progress is None else args.progress)
    config = SimulationConfig(
        sim,
        rate=args.rate or None,
        partitions=args.partitions,
        provision=not args.no_provision,
        keep_records=False,
        progress=lambda p: line.show(render_progress(p)),
    )
    summary = run_simulation(settings, config)
    line.finish("simulate: done")
    if args.json:
        out = {k: getattr(summary, k) for k in ("platforms", "good_by_platform", "bad_by_reason")}
        print(json.dumps(out | {"elapsed_s": round(summary.elapsed_s, 3)}))
    else:
        print(summary.render())
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "simulate",
        help="publish realistic seeded load, with a share of bad records of every reason",
        description=(
            "Generates borrowers on several platforms (steady payers, multi-platform "
            "borrowers, borrowers slipping into default, fraud-like application bursts, "
            "shoppers, travellers) and publishes their events through the platform SDK, "
            "provisioning each platform's topics first. The same --seed gives the same records."
        ),
    )
    parser.add_argument(
        "--platforms", type=int, default=6, help="number of platforms (1-64, default 6)"
    )
    parser.add_argument(
        "--borrowers", type=int, default=1000, help="number of borrowers (default 1000)"
    )
    parser.add_argument(
        "--events", type=int, default=20000, help="records in total, bad included (default 20000)"
    )
    parser.add_argument(
        "--rate", type=parse_rate, default=0.0, help="records/s, e.g. 500/s (default 0: max)"
    )
    parser.add_argument(
        "--bad-share", type=float, default=0.01, help="share of bad records (0-0.5, default 0.01)"
    )
    parser.add_argument(
        "--seed", type=int, default=1, help="random seed: the same seed, the same records"
    )
    parser.add_argument(
        "--period-days", type=int, default=180, help="event times span these days (default 180)"
    )
    parser.add_argument("--platform-prefix", default="", help="prefix of platform names")
    parser.add_argument(
        "--partitions",
        type=int,
        help="partitions of new platform topics (default CREDITSTREAM_PARTITIONS)",
    )
    parser.add_argument(
        "--no-provision", action="store_true", help="do not create topics: they already exist"
    )
    parser.add_argument(
        "--progress", action=argparse.BooleanOptionalAction, default=None,
        help="progress line on stderr (default: when stderr is a terminal)",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true", help="summary as one JSON object")
    parser.set_defaults(handler=cmd_simulate)

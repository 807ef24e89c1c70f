"""The profile stage: exchange.events in, rolling profiles and alerts out, exactly once.

Why not a Faust agent with a Faust table (what issue 4 first asked for): measured by
``bench/bench_profile_stage.py`` on the 2-core VM (300 k events, 95 k borrowers, real
broker; bench/results/profile_stage.json), the obvious Faust agent (per-event decode,
table write with changelog, ``await send``) ran 1.4-2.2 k events/s, and amortized with
``stream.take_events(1000)`` still 1.6 k/s: exchange.events carries one event per Kafka
message, so Faust's per-message path (~165 us, DESIGN.md) and aiokafka's per-record
changelog sends are paid per event. So it is built like ingress: a confluent-kafka loop
in a thread of the Faust worker (``streams.runtime.loop``) where each fetched batch is ONE
transaction holding the state changelog records, the profiles, the updates and the
consumer offsets (KIP-447). Where the time goes (per event, ~1 borrower per event in a
batch, event times in the last 90 days so windows are full; bench/bench_profile_stage.py:
~18 k events/s per core): decode ~3.5 us (``events``), fold ~9 us, view ~7 us (memoized
across events of a day), material check ~1 us, hand-written Avro of profile + update
~10 us (``avro``), state record ~5-10 us, produce/consume and transactions ~12-15 us
(~2.7 records written per event); the broker shares the machine's two cores. Garbage
collection cost 6-8 us more until the heap was frozen after each commit
(``streams.runtime.gcpolicy``).

Pipelining: the stage runs the pipelined variant of the loop's commit protocol
(``streams.runtime.loop``): a batch's commit runs in a helper thread while this thread
decodes and folds the next batch; that batch is produced, in its own transaction, only
once the previous commit succeeded, and if a commit fails both batches' in-memory
mutations are dropped and the consumer rewinds to the first one.

Guarantees: output and offsets commit together (a crash re-reads an uncommitted batch
against the committed state, so nothing is lost or applied twice; event dedup lives in
the state as well); ``profile_version`` only grows; after a restart or rebalance the
state of the assigned partitions is restored from ``exchange.profile-state`` (which is
co-partitioned with exchange.events) before any event is read.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from confluent_kafka import Consumer, Message, Producer, TopicPartition

from streams import topics
from streams.clock import now_ms
from streams.domain.profile.windows import ProfileConfig
from streams.errors import DecodeError
from streams.runtime.changelog import replay_changelog
from streams.runtime.deadletter import dead_letter_guard, produce_dead_letter
from streams.runtime.gcpolicy import FreezingGc
from streams.runtime.loop import StageLoop
from streams.settings import Settings
from streams.stages.profiles.batch import Emit, process_ops
from streams.stages.profiles.events import EventDecoder, Op
from streams.stages.profiles.records import OutputEncoder
from streams.stages.profiles.store import ProfileStore
from streams.wire.codec import SniffingCodec
from streams.wire.rejects import Reject

log = logging.getLogger(__name__)
RESTORE_REPORT_EVERY = 50_000  # records between on_restore calls


@dataclass
class ProfileStats:
    """Counters since start and recovery progress (read by metrics wiring and tests)."""

    events: int = 0
    batches: int = 0
    aborted: int = 0
    undecodable: int = 0
    profiles: int = 0  # records written to exchange.profiles
    updates: int = 0  # records written to exchange.profile-updates
    saturated: int = 0  # emits with an amount clamped to decimal(18, 2) (profiles.batch)
    alerts: Counter[str] = field(default_factory=Counter)  # by alert kind
    restored: int = 0  # changelog records replayed (all recoveries)
    restore_total: int = 0  # changelog records the current/last recovery had to replay
    restore_seconds: float = 0.0


BatchHook = Callable[[list[Emit], int, float], None]  # (emits, events, seconds)
RestoreHook = Callable[[int, float], None]  # (records replayed since last call, progress)


@dataclass
class Staged:
    """A folded batch: what it writes, the borrowers it mutated, its event count and
    dead letters (written to exchange.dead-letter in the same transaction)."""

    emits: list[Emit]
    touched: list[str]
    events: int
    dead: list[Reject]


class ProfileStage(StageLoop[Staged]):
    """Fold exchange.events into rolling profiles (``runtime.loop``, pipelined)."""

    name = "profiles"
    pipelined = True

    def __init__(self, settings: Settings, codec: SniffingCodec, config: ProfileConfig) -> None:
        super().__init__(
            settings,
            settings.profile_batch_max,
            consumer_extra={"fetch.max.bytes": 64 * 1024 * 1024},
            producer_extra={"queue.buffering.max.messages": 1_000_000},
        )
        self.codec = codec
        self.config = config
        self.decoder = EventDecoder(codec)
        self.encoder = OutputEncoder(codec, config)
        log.info(
            "profiles: events decoded by the %s, profiles encoded by the %s",
            "hand-written reader" if self.decoder.fast else "generic codec (slow path)",
            "hand-written writer" if self.encoder.hand_written else "generic codec (slow path)",
        )
        self.store = ProfileStore(settings.profile_hot_states)
        self.stats = ProfileStats()
        self.on_batch: BatchHook | None = None
        self.on_restore: RestoreHook | None = None
        #: Called with each committed batch's dead letters (metrics).
        self.on_dead: Callable[[list[Reject]], None] | None = None
        self.guard = dead_letter_guard(
            "profiles", settings.reject_guard_ratio, settings.reject_guard_window
        )
        self.gc = FreezingGc(settings.gc_full_collect_every_s)

    @property
    def restore_progress(self) -> float:
        """0..1 of the current recovery (1 when nothing is left to restore)."""
        total = self.stats.restore_total
        return 1.0 if total == 0 or self.ready.is_set() else min(1.0, self.stats.restored / total)

    def subscription(self) -> list[str]:
        return [topics.EXCHANGE_EVENTS]

    def reset(self) -> None:
        self.store = ProfileStore(self.settings.profile_hot_states)
        self.gc.start()

    # -- rebalance ------------------------------------------------------------------
    def assigned(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        parts = sorted(tp.partition for tp in partitions)
        self.store.assign(parts)
        began = time.perf_counter()
        restored = self.restore(parts, consumer)
        self.stats.restore_seconds = time.perf_counter() - began
        # Restored bytes live as long as the worker: move them out of the GC's sight.
        self.gc.full()
        log.info(
            "profiles assigned %s: restored %d records in %.1fs",
            parts,
            restored,
            self.stats.restore_seconds,
        )

    def revoked(self, partitions: list[TopicPartition]) -> None:
        self.store.forget(tp.partition for tp in partitions)

    def restore(self, partitions: list[int], consumer: Consumer | None = None) -> int:
        """Replay ``exchange.profile-state`` partitions into the store (bytes only)."""
        if not partitions:
            return 0
        if consumer is not None:  # the total, for progress; replay itself needs no total
            total = 0
            for p in partitions:
                tp = TopicPartition(topics.PROFILE_STATE, p)
                low, high = consumer.get_watermark_offsets(tp, timeout=10)
                total += max(0, high - low)
            self.stats.restore_total = total
        self.stats.restored = 0
        store, stats, hook = self.store, self.stats, self.on_restore
        reported = 0

        def on_record(p: int, key: bytes, value: bytes | None) -> None:
            nonlocal reported
            store.load(p, key.decode(), value)
            stats.restored += 1
            if hook is not None and stats.restored - reported >= RESTORE_REPORT_EVERY:
                hook(stats.restored - reported, self.restore_progress)
                reported = stats.restored

        count = replay_changelog(
            self._conf,
            topics.PROFILE_STATE,
            partitions,
            on_record,
            group_prefix=self.settings.app_id,
        )
        if hook is not None:
            hook(stats.restored - reported, 1.0)
        return count

    # -- the batch (pipelined: see streams.runtime.loop) ------------------------------
    def _decode(self, batch: list[Message], dead: list[Reject]) -> list[Op]:
        """The batch's ops; a record that does not decode goes to ``dead`` (only ingress
        writes exchange.events: a bug upstream, see ``streams.runtime.deadletter``)."""
        decode, out, guard = self.decoder.decode, [], self.guard
        for msg in batch:
            try:
                out.append(decode(msg.partition() or 0, msg.value() or b""))
            except (DecodeError, KeyError, ValueError, TypeError, IndexError, EOFError) as exc:
                self.refuse(msg, exc, guard, dead)
                continue
            guard.observe(False)
        guard.check()
        return out

    def stage(self, batch: list[Message]) -> Staged:
        """Fold ``batch`` (while the previous batch's commit is in flight)."""
        dead: list[Reject] = []
        ops = self._decode(batch, dead)
        emits = process_ops(ops, self.store.get, now_ms(), self.config, self.encoder)
        return Staged(emits, self.store.take_touched(), len(ops), dead)

    def produce(self, producer: Producer, staged: Staged) -> None:
        produce = producer.produce
        state, profiles = topics.PROFILE_STATE, topics.EXCHANGE_PROFILES
        updates = topics.PROFILE_UPDATES
        for e in staged.emits:
            key = e.borrower_id.encode()
            produce(state, e.state, key, partition=e.partition)
            if e.profile is not None:
                produce(profiles, e.profile, key)
            if e.update is not None:
                produce(updates, e.update, key)
        for letter in staged.dead:
            produce_dead_letter(producer, letter)

    def forget(self, staged: Staged | None) -> None:
        """Drop the entries the batch mutated (``None``: everything since the last
        hand-out, a fold that failed half-way)."""
        self.stats.aborted += 1
        self.store.abort(None if staged is None else staged.touched)

    def committed(self, staged: Staged, seconds: float) -> None:
        self.store.commit(staged.emits)
        # The committed states are long-lived: freeze them (gcpolicy). No transaction of
        # this stage is open here, so a periodic full collection cannot outlast one.
        self.gc.committed()
        s = self.stats
        s.batches += 1
        s.events += staged.events
        for e in staged.emits:
            s.profiles += e.profile is not None
            s.updates += e.update is not None
            s.saturated += e.saturated
            for a in e.alerts:
                s.alerts[a.kind.value] += 1
        if staged.dead:
            s.undecodable += len(staged.dead)
            if self.on_dead is not None:
                self.on_dead(staged.dead)
        if self.on_batch is not None:
            self.on_batch(staged.emits, staged.events, seconds)

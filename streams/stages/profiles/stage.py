"""The profile stage: exchange.events in, rolling profiles and alerts out, exactly once.

Why not a Faust agent with a Faust table (what issue 4 first asked for): measured by
``bench/bench_profile_stage.py`` on the 2-core VM (300 k events, 95 k borrowers, real
broker; bench/results/profile_stage.json), the obvious Faust agent (per-event decode,
table write with changelog, ``await send``) ran 1.4-2.2 k events/s, and amortized with
``stream.take_events(1000)`` still 1.6 k/s: exchange.events carries one event per Kafka
message, so Faust's per-message path (~165 us, DESIGN.md) and aiokafka's per-record
changelog sends are paid per event. So it is built like ingress: a confluent-kafka loop
in a thread of the Faust worker (``streams.runtime.txloop``) where each fetched batch is ONE
transaction holding the state changelog records, the profiles, the updates and the
consumer offsets (KIP-447). Where the time goes (per event, ~1 borrower per event in a
batch, event times in the last 90 days so windows are full; bench/bench_profile_stage.py:
~18 k events/s per core): decode ~3.5 us (``events``), fold ~9 us, view ~7 us (memoized
across events of a day), material check ~1 us, hand-written Avro of profile + update
~10 us (``avro``), state record ~5-10 us, produce/consume and transactions ~12-15 us
(~2.7 records written per event); the broker shares the machine's two cores. Garbage
collection cost 6-8 us more until the heap was frozen after each commit
(``streams.runtime.gcpolicy``).

Pipelining: a batch's commit (``send_offsets_to_transaction`` + ``commit_transaction``,
a broker round trip that releases the GIL) runs in a helper thread while this thread
decodes and folds the next batch. That next batch's records are produced, in its own
transaction, only once the previous commit succeeded, so transactions stay strictly
one after another. If a commit fails, both batches' in-memory mutations are dropped,
the consumer is rewound to the first batch's offsets and the error is raised (the
worker restarts; nothing of either batch is visible). Rebalance callbacks run inside
``consume``, when no batch is staged: they first settle the in-flight commit.

Guarantees: output and offsets commit together (a crash re-reads an uncommitted batch
against the committed state, so nothing is lost or applied twice; event dedup lives in
the state as well); ``profile_version`` only grows; after a restart or rebalance the
state of the assigned partitions is restored from ``exchange.profile-state`` (which is
co-partitioned with exchange.events) before any event is read.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from confluent_kafka import Consumer, Message, Producer, TopicPartition

from streams import topics
from streams.clock import now_ms
from streams.domain.profile.windows import ProfileConfig
from streams.errors import DecodeError
from streams.runtime.deadletter import dead_letter, dead_letter_guard, produce_dead_letter
from streams.runtime.gcpolicy import FreezingGc
from streams.runtime.txloop import (
    abort,
    batches,
    next_offsets,
    replay_changelog,
    rewind,
    stage_clients,
)
from streams.settings import KafkaConf, Settings
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
ConsumerHook = Callable[[Consumer], None]  # every tick_s, from the loop (lag reporting)
RestoreHook = Callable[[int, float], None]  # (records replayed since last call, progress)


@dataclass
class _Pending:
    """A batch whose transaction is committing in the helper thread."""

    batch: list[Message]
    emits: list[Emit]
    touched: list[str]
    events: int
    began: float
    commit: Future[float]  # resolves to the perf_counter time the commit completed
    dead: list[Reject]  # written to exchange.dead-letter in the same transaction


class ProfileStage:
    """Consume exchange.events, fold, and write outputs transactionally."""

    def __init__(self, settings: Settings, codec: SniffingCodec, config: ProfileConfig) -> None:
        self.settings = settings
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
        self.on_tick: ConsumerHook | None = None
        self.on_restore: RestoreHook | None = None
        #: Called with each committed batch's dead letters (metrics).
        self.on_dead: Callable[[list[Reject]], None] | None = None
        self.guard = dead_letter_guard(
            "profiles", settings.reject_guard_ratio, settings.reject_guard_window
        )
        self.tick_s = 5.0
        self.ready = threading.Event()
        self._stopping = threading.Event()
        self._conf: KafkaConf = settings.kafka_client_config()
        self._pending: _Pending | None = None
        self._consumer: Consumer | None = None
        self._producer: Producer | None = None
        self._committer = ThreadPoolExecutor(1, thread_name_prefix="profiles-commit")
        self.gc = FreezingGc(settings.gc_full_collect_every_s)

    @property
    def restore_progress(self) -> float:
        """0..1 of the current recovery (1 when nothing is left to restore)."""
        total = self.stats.restore_total
        return 1.0 if total == 0 or self.ready.is_set() else min(1.0, self.stats.restored / total)

    # -- lifecycle ------------------------------------------------------------------
    def stop(self) -> None:
        self._stopping.set()

    def run(self) -> None:
        """Block until ``stop()``; raises on fatal errors (after aborting the batch).
        Each call starts afresh from Kafka (``streams.runtime.host`` restarts it)."""
        self.ready.clear()
        self.store = ProfileStore(self.settings.profile_hot_states)
        self._pending = None
        self._committer = ThreadPoolExecutor(1, thread_name_prefix="profiles-commit")
        self.gc.start()
        consumer_extra: KafkaConf = {"fetch.max.bytes": 64 * 1024 * 1024}
        producer_extra: KafkaConf = {"queue.buffering.max.messages": 1_000_000}
        clients = stage_clients(
            self._conf, self.settings, "profiles", consumer_extra, producer_extra
        )
        with clients as (consumer, producer):
            self._consumer, self._producer = consumer, producer
            consumer.subscribe(
                [topics.EXCHANGE_EVENTS], on_assign=self._on_assign, on_revoke=self._on_revoke
            )
            try:
                for batch in batches(
                    consumer,
                    self.settings.profile_batch_max,
                    stopping=self._stopping,
                    ready=self.ready,
                    on_tick=self.on_tick,
                    tick_s=self.tick_s,
                ):
                    if batch:
                        self._stage_batch(batch)
                    elif self._pending is not None:
                        self._settle()
                self._settle()
            finally:
                self._committer.shutdown(wait=True)

    # -- rebalance ------------------------------------------------------------------
    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._settle()
        self.ready.clear()
        parts = sorted(tp.partition for tp in partitions)
        self.store.assign(parts)
        began = time.perf_counter()
        restored = self.restore(parts, consumer)
        self.stats.restore_seconds = time.perf_counter() - began
        # Restored bytes live as long as the worker: move them out of the GC's sight.
        self.gc.full()
        self.ready.set()
        log.info(
            "profiles assigned %s: restored %d records in %.1fs",
            parts,
            restored,
            self.stats.restore_seconds,
        )

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._settle()  # the in-flight batch's commit belongs to the old assignment
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

    # -- the pipelined batch transactions -----------------------------------------------
    def _decode(self, batch: list[Message], dead: list[Reject]) -> list[Op]:
        """The batch's ops; a record that does not decode goes to ``dead`` (only ingress
        writes exchange.events: a bug upstream, see ``streams.runtime.deadletter``)."""
        decode, out, guard = self.decoder.decode, [], self.guard
        for msg in batch:
            try:
                out.append(decode(msg.partition() or 0, msg.value() or b""))
            except (DecodeError, KeyError, ValueError, TypeError, IndexError, EOFError) as exc:
                letter = dead_letter("profiles", msg, exc, now_ms())
                log.error("dead letter %s: %s %s", letter.key, letter.reason, letter.message)
                dead.append(letter)
                guard.observe(True)
                continue
            guard.observe(False)
        guard.check()
        return out

    def _stage_batch(self, batch: list[Message]) -> None:
        """Fold ``batch`` (overlapping the previous commit), then produce and commit it."""
        began = time.perf_counter()
        try:
            dead: list[Reject] = []
            ops = self._decode(batch, dead)
            emits = process_ops(ops, self.store.get, now_ms(), self.config, self.encoder)
        except BaseException:  # a bug: let the previous batch finish, then undo this one
            touched = self.store.take_touched()
            try:
                self._settle()
            finally:
                self._fail(batch, touched, in_txn=False)
            raise
        touched = self._settle(batch, self.store.take_touched())
        producer, consumer = self._producer, self._consumer
        assert producer is not None and consumer is not None
        try:
            producer.begin_transaction()
            produce = producer.produce
            state, profiles = topics.PROFILE_STATE, topics.EXCHANGE_PROFILES
            updates = topics.PROFILE_UPDATES
            for e in emits:
                key = e.borrower_id.encode()
                produce(state, e.state, key, partition=e.partition)
                if e.profile is not None:
                    produce(profiles, e.profile, key)
                if e.update is not None:
                    produce(updates, e.update, key)
            for letter in dead:
                produce_dead_letter(producer, letter)
            offsets, meta = next_offsets(batch), consumer.consumer_group_metadata()
        except BaseException:
            self._fail(batch, touched)
            raise
        commit = self._committer.submit(_commit, producer, offsets, meta)
        self._pending = _Pending(batch, emits, touched, len(ops), began, commit, dead)

    def _settle(
        self, staged: list[Message] | None = None, touched: list[str] | None = None
    ) -> list[str]:
        """Wait for the in-flight commit; on success make its state the truth and count
        it, on failure undo it (and the ``staged`` batch) and raise. Returns ``touched``."""
        pending, self._pending = self._pending, None
        if pending is None:
            return touched or []
        try:
            done = pending.commit.result()
        except BaseException:
            self._fail(pending.batch + (staged or []), pending.touched + (touched or []))
            raise
        self.store.commit(pending.emits)
        # The committed states are long-lived: freeze them (gcpolicy). No transaction of
        # this stage is open here, so a periodic full collection cannot outlast one.
        self.gc.committed()
        self._count(pending.emits, pending.events)
        if pending.dead:
            self.stats.undecodable += len(pending.dead)
            if self.on_dead is not None:
                self.on_dead(pending.dead)
        if self.on_batch is not None:
            # Fetched to committed (not to this call, which waited for the next batch).
            self.on_batch(pending.emits, pending.events, done - pending.began)
        return touched or []

    def _fail(self, batch: list[Message], touched: list[str], in_txn: bool = True) -> None:
        """Undo: abort the transaction, drop mutated entries, rewind to the first offsets."""
        self.stats.aborted += 1
        self.store.abort(touched)
        if in_txn and self._producer is not None:
            abort(self._producer)
        if self._consumer is not None:
            rewind(self._consumer, batch)

    def _count(self, emits: list[Emit], events: int) -> None:
        s = self.stats
        s.batches += 1
        s.events += events
        for e in emits:
            s.profiles += e.profile is not None
            s.updates += e.update is not None
            s.saturated += e.saturated
            for a in e.alerts:
                s.alerts[a.kind.value] += 1


def _commit(producer: Producer, offsets: list[TopicPartition], meta: object) -> float:
    """Commit the open transaction; returns when it completed (perf_counter)."""
    producer.send_offsets_to_transaction(offsets, meta, 30)
    producer.commit_transaction(30)
    return time.perf_counter()

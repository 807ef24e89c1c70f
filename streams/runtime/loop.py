"""One exactly-once stage loop: the commit protocol every stage runs, written once.

A stage (ingress, consents, borrower) subclasses :class:`StageLoop` and
supplies what is its own: the topics it reads, ``stage(batch)`` (decode and apply its
rules, staging state changes in memory), ``produce(staged)``, ``committed(staged)``,
``forget(staged)``, and its recovery on assignment. The loop owns the consumer, the
transactional producer, the transaction, the rebalance callbacks, the ticks and
readiness. ``run()`` blocks until ``stop()`` and raises when it cannot go on;
``streams.runtime.host`` restarts it, and each run starts afresh from Kafka.

The commit protocol, per fetched batch:

1. **Fetch** up to ``batch_max`` records, waiting for the first only
   (``clients.fetch_batch``), then, if the previous transaction began less than
   ``stage_batch_linger_ms`` ago, for what arrives until then; a stage whose timer is
   due (``due()``) goes on with an empty batch.
2. **Stage**: ``stage(batch)`` decodes (an undecodable internal record becomes a dead
   letter, ``refuse``), applies the stage's rules and returns what to write; state
   changes are staged in memory, not yet the truth. ``None``: nothing to write.
3. **Produce**: the transaction begins; ``produce(producer, staged)`` writes every
   output, the dead letters and the state changelog records.
4. **Commit**: the batch's offsets (``offsets``, by default last + 1 per partition)
   go into the transaction with the group metadata (KIP-447: a zombie of an older
   group generation is fenced here) and the transaction commits. Outputs, state and
   offsets become visible together, or none of them does.
5. **Committed**: ``committed(staged, seconds)`` makes the staged state the truth
   and counts the batch (metrics read only committed batches); ``on_commit``, when
   set, gets the seconds step 4 took (``creditstream_stage_commit_seconds``).
6. **Undo**, on any failure in 2-4: ``forget(staged)`` drops the staged state
   (``forget(None)`` when step 2 itself failed), the transaction is aborted if it
   began, the consumer is rewound to the batch's first offsets, and the error
   propagates. The restart re-reads the batch against the committed state: nothing
   is lost or applied twice.

On assignment, before any of it is read: ``assigned`` recovers the partitions'
state, then the loop assigns them at the offsets the group committed, read stably
(``runtime.positions``: librdkafka left to look them up itself can restart a
partition from its beginning after a rebalance).

Pipelined variant (``pipelined = True``, the borrower stage): step 4 of batch *n*
runs in a helper thread while step 2 of batch *n+1* runs in the loop's thread (the
commit is a broker round trip that releases the GIL). Batch *n+1* reaches step 3
only after *n* settled (step 5), so transactions stay strictly one after another;
if *n*'s commit fails, step 6 undoes both. Only a batch *n* of at least
``overlap_from`` records overlaps: after a lighter one the loop settles it before
fetching (at light load the overlap saved little and cost records arriving during the
commit a second commit's wait). Rebalance callbacks run inside
``consume``, when nothing is staged, and settle an in-flight commit first (it
belongs to the old assignment).
"""

from __future__ import annotations

import logging
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import ClassVar, Generic, TypeVar

from confluent_kafka import Consumer, Message, Producer, TopicPartition

from streams.clock import now_ms
from streams.runtime.clients import (
    StageIdentity,
    abort,
    fetch_batch,
    next_offsets,
    rewind,
    stage_clients,
    usable,
)
from streams.runtime.deadletter import dead_letter
from streams.runtime.guard import RatioGuard
from streams.runtime.positions import committed_starts
from streams.runtime.tenantgate import TenantGate
from streams.settings import KafkaConf, Settings
from streams.wire.rejects import Reject

log = logging.getLogger(__name__)

S = TypeVar("S")  # what a stage staged for one batch

#: Called every ``tick_s`` from the loop's thread with the consumer (lag reporting).
ConsumerHook = Callable[[Consumer], None]
#: Called with the seconds step 4 took, once per committed transaction (metrics).
CommitHook = Callable[[float], None]


@dataclass
class _InFlight(Generic[S]):
    """A batch whose commit (step 4) is running in the helper thread."""

    batch: list[Message]
    staged: S
    began: float
    commit: Future[tuple[float, float]]


def _commit(producer: Producer, offsets: list[TopicPartition], meta: object) -> tuple[float, float]:
    """Step 4; returns when it started and when the commit completed (``perf_counter``)."""
    started = time.perf_counter()
    producer.send_offsets_to_transaction(offsets, meta, 30)
    producer.commit_transaction(30)
    return started, time.perf_counter()


class StageLoop(ABC, Generic[S]):
    """The loop of one stage; see the module docstring for the protocol."""

    #: The stage's name: its consumer group is ``<app_id>-<name>`` (``streams.topics``).
    name: ClassVar[str]
    #: Commit batch n while batch n+1 is staged (the variant in the module docstring).
    pipelined: ClassVar[bool] = False
    #: ... once batch n has this many records: below it (light load, staging takes less
    #: than a commit) the next batch is fetched after n's commit, so it holds everything
    #: that arrived meanwhile (bench_end_to_end, pipelined ingress: at a trickle and at
    #: 20 % of the maximum its hop took ~2x as long when every batch overlapped).
    overlap_from: ClassVar[int] = 200

    def __init__(
        self,
        settings: Settings,
        batch_max: int,
        *,
        consumer_extra: KafkaConf | None = None,
        producer_extra: KafkaConf | None = None,
        gate: TenantGate | None = None,
    ) -> None:
        self.settings = settings
        self.ready = threading.Event()
        self.on_tick: ConsumerHook | None = None
        self.on_commit: CommitHook | None = None
        self.tick_s = 5.0
        #: Tenants whose answer topic is missing wait, paused (``runtime.tenantgate``).
        self.gate = gate
        self._conf: KafkaConf = settings.kafka_client_config()
        self._batch_max = batch_max
        self._consumer_extra = consumer_extra or {}
        self._producer_extra = producer_extra or {}
        self._stopping = threading.Event()
        self._consumer: Consumer | None = None
        self._producer: Producer | None = None
        self._in_flight: _InFlight[S] | None = None
        self._committer: ThreadPoolExecutor | None = None
        self._linger_s = settings.stage_batch_linger_ms / 1000
        self._last_began = 0.0

    # -- what a stage supplies -------------------------------------------------------
    @abstractmethod
    def subscription(self) -> list[str]:
        """The topics (or ``^regex`` patterns) the stage reads."""

    @abstractmethod
    def stage(self, batch: list[Message]) -> S | None:
        """Step 2: decode and apply ``batch`` (possibly empty when ``due()``); stage
        state changes in memory. ``None``: nothing to write, nothing to commit."""

    @abstractmethod
    def produce(self, producer: Producer, staged: S) -> None:
        """Step 3: write ``staged``'s records inside the open transaction."""

    @abstractmethod
    def committed(self, staged: S, seconds: float) -> None:
        """Step 5: make ``staged`` the truth and count it; ``seconds`` from fetched
        to committed."""

    def forget(self, staged: S | None) -> None:
        """Step 6: drop what ``staged`` (``None``: a failed step 2) changed in memory."""

    def offsets(self, batch: list[Message], staged: S) -> list[TopicPartition]:
        """Step 4: the offsets the transaction commits."""
        return next_offsets(batch)

    def due(self) -> bool:
        """True when a transaction is due without input (a stage's timer)."""
        return False

    def reset(self) -> None:
        """Before each run: start from empty state (recovery refills it)."""

    def tick(self) -> None:
        """Every ``tick_s`` from the loop's thread, between batches (housekeeping)."""

    def release(self) -> None:
        """After a run ends (stopped or failed): close local state, so what it holds
        reaches the disk (the next run, or process, finds it there)."""

    def assigned(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Recover the state of newly assigned ``partitions`` (the loop is not ready, and
        the consumer is assigned them only afterwards)."""

    def revoked(self, partitions: list[TopicPartition]) -> None:
        """Forget the state of revoked ``partitions``."""

    # -- lifecycle ------------------------------------------------------------------
    def stop(self) -> None:
        self._stopping.set()

    def run(self) -> None:
        """Block until ``stop()``; raises on fatal errors (after step 6)."""
        self.ready.clear()
        self._in_flight = None
        self.reset()
        if self.pipelined:
            self._committer = ThreadPoolExecutor(1, thread_name_prefix=f"{self.name}-commit")
        clients = stage_clients(
            self._conf, self.settings, self.name, self._consumer_extra, self._producer_extra
        )
        try:
            with clients as (consumer, producer):
                self._consumer, self._producer = consumer, producer
                consumer.subscribe(
                    self.subscription(), on_assign=self._on_assign, on_revoke=self._on_revoke
                )
                self._loop(consumer)
                self._settle()
        finally:
            if self._committer is not None:
                self._committer.shutdown(wait=True)
            self._consumer = self._producer = None
            self.release()

    def _loop(self, consumer: Consumer) -> None:
        next_tick = time.monotonic()
        while not self._stopping.is_set():
            if time.monotonic() >= next_tick:
                self._tick(consumer)
                next_tick = time.monotonic() + self.tick_s
            batch = self._fetch(consumer)
            # Idle is ready too; assignment callbacks clear and set it around recovery.
            if not self.ready.is_set() and not consumer.assignment():
                self.ready.set()
            if batch or self.due():
                self._transact(batch)
            elif self._in_flight is not None:
                self._settle()

    def _fetch(self, consumer: Consumer) -> list[Message]:
        """Step 1. A light in-flight batch is settled first: overlapping it would save
        little staging time and make records that arrive during its commit wait for the
        next commit as well (they would miss the batch staged meanwhile)."""
        pending = self._in_flight
        if pending is not None and len(pending.batch) < self.overlap_from:
            self._settle()
        batch = fetch_batch(consumer, self._batch_max)
        if batch and len(batch) < self._batch_max:
            wait = self._last_began + self._linger_s - time.perf_counter()
            if wait > 0:  # the previous transaction began less than the linger ago
                batch += consumer.consume(self._batch_max - len(batch), wait)
        return [m for m in batch if usable(m)]

    def _tick(self, consumer: Consumer) -> None:
        self.tick()
        if self.gate is not None:
            self.gate.recheck(consumer)
        if self.on_tick is not None:
            self.on_tick(consumer)

    # -- rebalance ------------------------------------------------------------------
    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Recover the partitions' state, then assign them at the offsets the group
        committed (``runtime.positions``: never leaving librdkafka to find them)."""
        self._settle()
        self.ready.clear()
        self.assigned(consumer, partitions)
        group = StageIdentity.of(self.settings, self.name).group
        starts = committed_starts(self._conf, group, partitions, self._stopping)
        if self.gate is not None:
            self.gate.assign(consumer, starts)
        else:
            consumer.assign(starts)
        self.ready.set()

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._settle()
        if self.gate is not None:
            self.gate.revoke(partitions)
        self.revoked(partitions)

    # -- the protocol -----------------------------------------------------------------
    def _transact(self, batch: list[Message]) -> None:
        began = self._last_began = time.perf_counter()
        try:
            staged = self.stage(batch)  # step 2 (overlaps an in-flight commit)
        except BaseException:
            self._settle(also=(batch, None))
            self._undo([(batch, None)], in_txn=False)
            raise
        if staged is None:
            return
        self._settle(also=(batch, staged))
        producer, consumer = self._producer, self._consumer
        assert producer is not None and consumer is not None
        try:
            producer.begin_transaction()  # step 3
            self.produce(producer, staged)
            offsets, meta = self.offsets(batch, staged), consumer.consumer_group_metadata()
            if self._committer is not None:  # step 4 in the helper thread
                commit = self._committer.submit(_commit, producer, offsets, meta)
                self._in_flight = _InFlight(batch, staged, began, commit)
                return
            started, done = _commit(producer, offsets, meta)  # step 4
        except BaseException:
            self._undo([(batch, staged)])
            raise
        self._committed(staged, began, started, done)

    def _committed(self, staged: S, began: float, started: float, done: float) -> None:
        """Step 5, and the commit's time to ``on_commit``."""
        if self.on_commit is not None:
            self.on_commit(done - started)
        self.committed(staged, done - began)

    def _settle(self, also: tuple[list[Message], S | None] | None = None) -> None:
        """Wait for the in-flight commit: step 5 on success; on failure step 6 for it
        (and for ``also``, the batch staged meanwhile), then raise."""
        pending, self._in_flight = self._in_flight, None
        if pending is None:
            return
        try:
            started, done = pending.commit.result()
        except BaseException:
            self._undo([(pending.batch, pending.staged), *([also] if also else [])])
            raise
        self._committed(pending.staged, pending.began, started, done)

    def _undo(self, batches: list[tuple[list[Message], S | None]], in_txn: bool = True) -> None:
        """Step 6: forget (newest first, so state goes back to before the oldest),
        abort, rewind to the oldest batch's first offsets."""
        for _batch, staged in reversed(batches):
            self.forget(staged)
        if in_txn and self._producer is not None:
            abort(self._producer)
        if self._consumer is not None:
            rewind(self._consumer, [m for batch, _ in batches for m in batch])

    # -- shared by the stages' step 2 --------------------------------------------------
    def refuse(self, msg: Message, exc: Exception, guard: RatioGuard, into: list[Reject]) -> None:
        """Turn an undecodable internal record into a dead letter (``runtime.deadletter``),
        counted by ``guard``; the caller writes ``into`` in step 3."""
        letter = dead_letter(self.name, msg, exc, now_ms())
        log.error("dead letter %s: %s %s", letter.key, letter.reason, letter.message)
        into.append(letter)
        guard.observe(True)

"""The borrower stage: events, consents and borrowers' requests in; feeds, audit, profiles
and state out, exactly once.

Kafka Streams would call it one sub-topology: ``exchange.events`` (from ingress),
``exchange.consents`` (from the consent stage) and ``exchange.requests`` (objections and
erasures, from the operator's tools) are all keyed by borrower_id with the murmur2
partitioner and have the same partition count (checked at start), and the consumer uses
the range assignor, so partition p of all three lands on one worker, which then owns
everything about those borrowers (``streams.stages.borrower.entry``): fold state,
subscriptions, the last update, objections. For partition p it also owns:

* ``exchange.borrower-state`` partition p: each changed borrower's entry. A local
  store (``streams.runtime.state``: RocksDB under ``<state_dir>/borrower/p``) holds
  the committed entries with the changelog offset they reach, written after each commit
  (``statelog``); on assignment only the records after that offset are replayed
  (``recovery``), before anything is read;
* the hash chain of ``exchange.audit`` partition p: every audit record sealed here is
  produced with ``partition=p`` by the :class:`~streams.domain.audit.ChainHead` of p,
  recovered on assignment from the newest committed record (``auditlog.chain_heads``),
  so each chain has exactly one writer.

Each fetched batch is ONE Kafka transaction (``streams.runtime.loop``, the pipelined
variant: a batch's commit overlaps the next batch's fold) holding the bank feed
records, their audit records, the changed profiles (``exchange.profiles``, compacted),
the profile updates (``exchange.profile-updates``: the change stream behind every
delivery, which no stage reads; auditors and the chaos checker do), the objections told
to their platforms (``platforms.<p>.disputes``), the rights log, the state records, the
dead letters and the consumer offsets. A bank never gets a record without its audit
record and its billing, and a crash re-reads the batch against the committed state, so
nothing is delivered twice or lost. On abort the chain heads go back to their
checkpoints. Expiry is checked at delivery time; a timer additionally prunes expired
consents from the state and closes objections past their deadline (in a transaction
carrying the current positions as offsets, so a fenced zombie's prune can never
overwrite a newer state).

Why not a Faust agent with a table: Faust's per-message path (~165 us, DESIGN.md) and
aiokafka's per-record changelog sends are paid per event (bench/bench_profile_stage.py
measured 1.4-2.2 k events/s for the obvious agent); here a batch costs one transaction.
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
from streams.domain.audit import ChainHead
from streams.domain.profile.windows import ProfileConfig
from streams.domain.rights import DisputeRequest
from streams.errors import DecodeError
from streams.runtime.changelog import open_txn_wait
from streams.runtime.clients import next_offsets
from streams.runtime.deadletter import dead_letter_guard, produce_dead_letter
from streams.runtime.gcpolicy import FreezingGc
from streams.runtime.loop import StageLoop
from streams.runtime.state import FlushTimer, StateCleaner, Store, open_store
from streams.settings import Settings
from streams.stages.borrower.batch import Outcome, Request, process_batch
from streams.stages.borrower.deliverybytes import DeliveryEncoder
from streams.stages.borrower.events import EventDecoder, Op
from streams.stages.borrower.records import OutputEncoder
from streams.stages.borrower.recovery import audit_heads, restore
from streams.stages.borrower.requests import RightsRequest, decode_rights_request, policy_of
from streams.stages.borrower.statelog import produce_states, reached_offsets
from streams.stages.borrower.store import BorrowerStore
from streams.wire.codec import SniffingCodec
from streams.wire.consents import decode_request
from streams.wire.headers import schema_headers
from streams.wire.rejects import Reason, Reject
from streams.wire.schemas import AUDIT_RECORD, DISPUTE, FEED_RECORD, RIGHT_EXERCISED

log = logging.getLogger(__name__)
#: What the stage reads, by name: all co-partitioned, keyed by borrower_id.
SUBSCRIPTION = (topics.EXCHANGE_EVENTS, topics.CONSENTS, topics.REQUESTS)
_EVENT_ERRORS = (DecodeError, KeyError, ValueError, TypeError, IndexError, EOFError)


@dataclass
class BorrowerStats:
    """Counters since start and recovery progress (read by metrics wiring and tests)."""

    events: int = 0
    requests: int = 0
    batches: int = 0
    aborted: int = 0
    undecodable: int = 0
    profiles: int = 0  # records written to exchange.profiles
    updates: int = 0  # records written to exchange.profile-updates
    saturated: int = 0  # updates with an amount clamped to decimal(18, 2)
    alerts: Counter[str] = field(default_factory=Counter)  # by alert kind
    deliveries: int = 0  # feed records written (answers included)
    audited: int = 0  # of which carried data: audit records written
    expired: int = 0  # subscriptions pruned
    rights_requests: int = 0  # objections and erasures read
    objections_refused: int = 0  # of which refused (no such record, already disputed)
    disputes_closed: Counter[str] = field(default_factory=Counter)  # by outcome
    restored: int = 0  # changelog records replayed by the current/last recovery
    restore_seconds: float = 0.0


@dataclass
class Staged:
    """One batch: its outcome, the events it held, its dead letters, the offsets it
    commits, the borrowers it mutated (dropped on abort) and the audit chains' heads
    before it (an aborted batch's records never become predecessors)."""

    outcome: Outcome
    events: int
    dead: list[Reject]
    offsets: list[TopicPartition]
    touched: list[str]
    checkpoints: dict[int, str]
    #: partition -> the offset its last state record got (delivery reports, step 4)
    changelog: dict[int, int] = field(default_factory=dict)


#: A batch's consent requests, rights requests and events, each with its input partition.
Decoded = tuple[list[Request], list[tuple[int, RightsRequest]], list[Op]]
BatchHook = Callable[[Outcome, int, float], None]  # (outcome, events, seconds)
#: (records replayed since the last call, progress 0..1, records left to replay)
RestoreHook = Callable[[int, float, int], None]


class BorrowerStage(StageLoop[Staged]):
    """Fold events, apply consents and deliver, per borrower (``runtime.loop``, pipelined)."""

    name = "borrower"
    pipelined = True

    def __init__(self, settings: Settings, codec: SniffingCodec, config: ProfileConfig) -> None:
        super().__init__(
            settings,
            settings.borrower_batch_max,
            consumer_extra={"fetch.max.bytes": 64 * 1024 * 1024},
            producer_extra={"queue.buffering.max.messages": 1_000_000},
        )
        self.codec = codec
        self.config = config
        self.decoder = EventDecoder(codec)
        self.encoder = OutputEncoder(codec, config)
        self.deliveries = DeliveryEncoder(codec, self.encoder)
        hand, slow = "hand-written", "generic codec (slow path)"
        log.info(
            "borrower: events decoded by the %s, profiles encoded by the %s, feed and "
            "audit records by the %s",
            f"{hand} reader" if self.decoder.fast else slow,
            f"{hand} writer" if self.encoder.hand_written else slow,
            f"{hand} writer" if self.deliveries.hand_written else slow,
        )
        self.store = BorrowerStore(settings.borrower_hot_states, self._open_store)
        self.heads: dict[int, ChainHead] = {}
        self.stats = BorrowerStats()
        self.on_batch: BatchHook | None = None
        self.on_restore: RestoreHook | None = None
        #: Called with each committed batch's dead letters (metrics).
        self.on_dead: Callable[[list[Reject]], None] | None = None
        self.guard = dead_letter_guard(
            self.name, settings.reject_guard_ratio, settings.reject_guard_window
        )
        self.gc = FreezingGc(settings.gc_full_collect_every_s)
        self._prune_s = settings.consent_prune_interval_ms / 1000
        self._next_prune = 0.0
        self._flush = FlushTimer(settings.state_flush_every_s)
        self._cleaner = StateCleaner(settings.state_dir / self.name, settings.state_cleanup_delay_s)
        self._due: list[tuple[int, str]] = []
        self._progress = 1.0
        self.policy = policy_of(settings)
        #: Platforms' disputes topics known to exist (``_rights_request``).
        self._platform_topics: set[str] = set()

    def _open_store(self, partition: int) -> Store:
        return open_store(self.settings, self.name, partition)

    @property
    def restore_progress(self) -> float:
        """0..1 of the current recovery (1 when nothing is left to restore)."""
        return 1.0 if self.ready.is_set() else self._progress

    def subscription(self) -> list[str]:
        return list(SUBSCRIPTION)

    def reset(self) -> None:
        # The producer fences a crashed predecessor of this instance at once; a crashed
        # worker that does not come back holds the audit chain's recovery for at most
        # the (short) transaction timeout.
        self.store.close()
        self.store = BorrowerStore(self.settings.borrower_hot_states, self._open_store)
        self.heads = {}
        self._next_prune, self._due = time.monotonic(), []
        self.gc.start()

    def release(self) -> None:
        self.store.close()

    def tick(self) -> None:
        if self._flush.due():  # what a crash makes recovery replay
            self.store.flush()
        if self._cleaner.due() and self.settings.state_store == "disk":
            self._cleaner.clean(self.store.owned())

    # -- rebalance ------------------------------------------------------------------
    def assigned(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        parts = sorted({tp.partition for tp in partitions})
        self.store.assign(parts)
        began = time.perf_counter()
        self.stats.restored = 0
        wait = open_txn_wait(self.settings.transaction_timeout_ms)
        restored = restore(
            self._conf, self.settings.app_id, parts, self.store, self._report, wait, self._stopping
        )
        self.heads.update(audit_heads(self._conf, parts, self.codec, self._stopping))
        self.stats.restore_seconds = time.perf_counter() - began
        # Restored bytes live as long as the worker: move them out of the GC's sight.
        self.gc.full()
        log.info(
            "borrower assigned %s: restored %d records in %.1fs",
            parts,
            restored,
            self.stats.restore_seconds,
        )

    def _report(self, replayed: int, progress: float, left: int) -> None:
        self.stats.restored += replayed
        self._progress = progress
        if self.on_restore is not None:
            self.on_restore(replayed, progress, left)

    def revoked(self, partitions: list[TopicPartition]) -> None:
        parts = {tp.partition for tp in partitions}
        self.store.forget(parts)
        for p in parts:
            self.heads.pop(p, None)

    # -- the prune timer ----------------------------------------------------------------
    def due(self) -> bool:
        self._take_due()
        return bool(self._due)

    def _take_due(self) -> None:
        """Every prune interval: the entries whose earliest expiry has passed."""
        if time.monotonic() >= self._next_prune:
            self._due += self.store.due(now_ms())
            self._next_prune = time.monotonic() + self._prune_s

    def _positions(self) -> list[TopicPartition]:
        """A prune-only transaction commits the current positions: it is fenced like
        any other if this worker lost its partitions. A partition nothing was consumed
        from since it was assigned has no position (librdkafka answers
        ``OFFSET_INVALID``), so its committed offset stands in: without it a worker
        restarted onto idle partitions could never prune, nor close an objection at
        its deadline, until new input arrived."""
        consumer = self._consumer
        assert consumer is not None
        assignment = consumer.assignment()
        known = [tp for tp in consumer.position(assignment) if tp.offset >= 0]
        if len(known) < len(assignment):
            have = {(tp.topic, tp.partition) for tp in known}
            missing = [tp for tp in assignment if (tp.topic, tp.partition) not in have]
            known += [tp for tp in consumer.committed(missing, timeout=10) if tp.offset >= 0]
        return known

    # -- the batch (pipelined: see streams.runtime.loop) ------------------------------
    def _decode(self, batch: list[Message], dead: list[Reject]) -> Decoded:
        """The batch's consent requests, rights requests and events; a record that does not
        decode goes to ``dead`` (only the exchange writes these topics: a bug upstream,
        see ``streams.runtime.deadletter``; never a reason to stop every bank's feed
        unless nearly all are bad)."""
        requests: list[Request] = []
        rights: list[tuple[int, RightsRequest]] = []
        ops: list[Op] = []
        decode, guard, events = self.decoder.decode, self.guard, topics.EXCHANGE_EVENTS
        for msg in batch:
            partition, value = msg.partition() or 0, msg.value() or b""
            try:
                topic = msg.topic()
                if topic == events:
                    ops.append(decode(partition, value))
                elif topic == topics.CONSENTS:
                    requests.append((partition, decode_request(value)))
                else:
                    rights.append((partition, self._rights_request(value)))
            except _EVENT_ERRORS as exc:
                self.refuse(msg, exc, guard, dead)
                continue
            guard.observe(False)
        guard.check()
        return requests, rights, ops

    def _rights_request(self, value: bytes) -> RightsRequest:
        """A borrower's request; an objection only when its platform can be told of it
        (its disputes topic exists: a produce to a missing topic would fail every retry
        of the batch)."""
        req = decode_rights_request(self.codec, value)
        if not isinstance(req, DisputeRequest):
            return req
        topic = topics.disputes(req.platform)
        if topic not in self._platform_topics:
            assert self._producer is not None
            meta = self._producer.list_topics(topic, timeout=10)
            found = meta.topics.get(topic)
            if found is None or found.error is not None:
                raise DecodeError(
                    Reason.INVALID_FIELD, f"{topic} does not exist (provision the platform)", value
                )
            self._platform_topics.add(topic)
        return req

    def stage(self, batch: list[Message]) -> Staged | None:
        """Fold and deliver ``batch`` (while the previous batch's commit is in flight)."""
        self._take_due()
        due, self._due = self._due, []
        offsets = next_offsets(batch) if batch else self._positions()
        if not offsets:  # nothing assigned any more: prune once partitions come back
            if due:
                log.info("borrower: %d due entries wait: no partition to commit with", len(due))
            self.store.defer(due, now_ms() + int(self._prune_s * 1000))
            return None
        dead: list[Reject] = []
        requests, rights, ops = self._decode(batch, dead)
        store = self.store
        outcome = process_batch(
            requests, ops, due, store.get, now_ms(), self.config, self.encoder,
            rights, self.policy,
        )  # fmt: skip
        checkpoints = {p: h.checkpoint() for p, h in self.heads.items()}
        return Staged(outcome, len(ops), dead, offsets, store.take_touched(), checkpoints)

    def offsets(self, batch: list[Message], staged: Staged) -> list[TopicPartition]:
        return staged.offsets

    def produce(self, producer: Producer, staged: Staged) -> None:
        produce, outcome = producer.produce, staged.outcome
        feed, audit_record = self.deliveries.feed, self.deliveries.audit
        profiles, updates = topics.EXCHANGE_PROFILES, topics.PROFILE_UPDATES
        for e in outcome.emits:
            key = e.borrower_id.encode()
            if e.profile is not None:
                produce(profiles, e.profile, key)
            if e.update is not None:
                produce(updates, e.update, key)
        audit = topics.EXCHANGE_AUDIT
        feed_h, audit_h = schema_headers(FEED_RECORD), schema_headers(AUDIT_RECORD)
        for p, d in outcome.deliveries:
            produce(d.topic, feed(d.record), d.key.encode(), headers=feed_h)
            if d.audit is not None:
                sealed = self.heads[p].seal(d.audit)
                key = str(d.audit["borrower_id"]).encode()
                produce(audit, audit_record(sealed), key, partition=p, headers=audit_h)
        encode = self.codec.encode
        for topic, dispute_id, datum in outcome.disputes:
            value = encode(DISPUTE, datum)
            produce(topic, value, dispute_id.encode(), headers=schema_headers(DISPUTE))
        for datum in outcome.rights_log:
            key, value = datum["borrower_id"].encode(), encode(RIGHT_EXERCISED, datum)
            produce(topics.RIGHTS_LOG, value, key, headers=schema_headers(RIGHT_EXERCISED))
        for bid in outcome.tombstones:
            produce(profiles, None, bid.encode())
        produce_states(producer, outcome.states, staged.changelog)
        for letter in staged.dead:
            produce_dead_letter(producer, letter)

    def forget(self, staged: Staged | None) -> None:
        """Drop the entries the batch mutated (``None``: everything since the last
        hand-out, a batch that failed half-way) and rewind the audit chains."""
        self.stats.aborted += 1
        self.store.abort(None if staged is None else staged.touched)
        if staged is not None:
            for p, checkpoint in staged.checkpoints.items():
                if p in self.heads:
                    self.heads[p].reset(checkpoint)

    def committed(self, staged: Staged, seconds: float) -> None:
        outcome = staged.outcome
        offsets = reached_offsets(self._producer, outcome.states, staged.changelog)
        self.store.commit(outcome.states, offsets)
        # The committed states are long-lived: freeze them (gcpolicy). No transaction of
        # this stage is open here, so a periodic full collection cannot outlast one.
        self.gc.committed()
        s = self.stats
        s.batches += 1
        s.events += staged.events
        s.requests += outcome.requests
        s.expired += outcome.expired
        s.rights_requests += outcome.rights_requests
        s.objections_refused += len(outcome.refused)
        for d in outcome.closed:
            s.disputes_closed[d.status] += 1
        for e in outcome.emits:
            s.profiles += e.profile is not None
            s.updates += e.update is not None
            s.saturated += e.saturated
            for a in e.alerts:
                s.alerts[str(a.kind)] += 1
        s.deliveries += len(outcome.deliveries)
        s.audited += sum(d.audit is not None for _, d in outcome.deliveries)
        if staged.dead:
            s.undecodable += len(staged.dead)
            if self.on_dead is not None:
                self.on_dead(staged.dead)
        if self.on_batch is not None:
            self.on_batch(outcome, staged.events, seconds)

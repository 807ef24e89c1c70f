"""The fan-out stage: profile updates and consents in; bank feeds and audit out, exactly once.

Inputs ``exchange.profile-updates`` and ``exchange.consents`` are both keyed by
borrower_id with the murmur2 partitioner and have the same partition count, and the
consumer uses the range assignor: partition p of both lands on one worker, so one
worker owns everything about a borrower (co-partitioning). That worker, for partition
p, also owns:

* ``exchange.fanout-state`` partition p: each changed borrower's entry (subscriptions,
  latest view and version), restored on assignment before anything is read;
* the hash chain of ``exchange.audit`` partition p: every audit record sealed here is
  produced with ``partition=p`` by the :class:`~streams.domain.audit.ChainHead` of p,
  recovered on assignment from the newest committed record (``auditlog.chain_heads``),
  so each chain has exactly one writer.

Each fetched batch is ONE Kafka transaction (KIP-447) holding the feed records, the
audit records, the state records and the consumer offsets: a bank never gets a record
without its audit record and its billing, and a crash re-reads the batch against the
committed state, so nothing is delivered twice or lost. On abort the chain heads go
back to their checkpoints (aborted records never become predecessors). Expiry is
checked at delivery time; a timer additionally prunes expired consents from the state
(in a transaction carrying the current positions as offsets, so a fenced zombie's prune
can never overwrite a newer state).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from confluent_kafka import Consumer, Message, Producer, TopicPartition

from streams import topics
from streams.clock import now_ms
from streams.domain.audit import ChainHead
from streams.errors import BrokerError, DecodeError
from streams.runtime.auditlog import chain_heads
from streams.runtime.changelog import replay_changelog
from streams.runtime.clients import next_offsets
from streams.runtime.deadletter import dead_letter_guard, produce_dead_letter
from streams.runtime.loop import StageLoop
from streams.settings import Settings
from streams.stages.fanout.batch import (
    Item,
    Outcome,
    ProfileChange,
    change_from_datum,
    process_batch,
)
from streams.stages.fanout.state import FanoutStore
from streams.wire.codec import SniffingCodec
from streams.wire.consents import ConsentRequest, decode_request
from streams.wire.rejects import Reject
from streams.wire.schemas import AUDIT_RECORD, FEED_RECORD, PROFILE_UPDATE

log = logging.getLogger(__name__)
EXPECTED = frozenset({PROFILE_UPDATE})


@dataclass
class FanoutStats:
    """Counters since start (metrics wiring and tests read these)."""

    batches: int = 0
    aborted: int = 0
    undecodable: int = 0
    deliveries: int = 0  # feed records written (answers included)
    audited: int = 0  # of which carried data: audit records written
    stale: int = 0
    expired: int = 0
    restored: int = 0


@dataclass
class Staged:
    """One batch's outcome, its dead letters, the offsets it commits, and the audit
    chains' heads before it (an aborted batch's records never become predecessors)."""

    outcome: Outcome
    offsets: list[TopicPartition]
    checkpoints: dict[int, str]
    dead: list[Reject] = field(default_factory=list)


BatchHook = Callable[[Outcome, float], None]


class FanoutStage(StageLoop[Staged]):
    """Deliver profile changes and answer consents per borrower (``runtime.loop``)."""

    name = "fanout"

    def __init__(self, settings: Settings, codec: SniffingCodec) -> None:
        super().__init__(settings, settings.fanout_batch_max)
        self.codec = codec
        self.store = FanoutStore()
        self.heads: dict[int, ChainHead] = {}
        self.stats = FanoutStats()
        self.on_batch: BatchHook | None = None
        #: Called with each committed batch's dead letters (metrics).
        self.on_dead: Callable[[list[Reject]], None] | None = None
        self.guard = dead_letter_guard(
            "fanout", settings.reject_guard_ratio, settings.reject_guard_window
        )
        self._prune_s = settings.fanout_prune_interval_ms / 1000
        self._next_prune = 0.0
        self._due: list[tuple[int, str]] = []

    def subscription(self) -> list[str]:
        return [topics.PROFILE_UPDATES, topics.CONSENTS]

    def reset(self) -> None:
        # The producer fences a crashed predecessor of this instance at once; a crashed
        # worker that does not come back holds the audit chain's recovery for at most
        # the (short) transaction timeout.
        self.store, self.heads = FanoutStore(), {}
        self._next_prune, self._due = time.monotonic(), []

    # -- rebalance ------------------------------------------------------------------
    def assigned(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        parts = sorted({tp.partition for tp in partitions})
        self.store.assign(parts)

        def load(p: int, key: bytes, value: bytes | None) -> None:
            self.store.load(p, key.decode(), value)

        self.stats.restored += replay_changelog(
            self._conf, topics.FANOUT_STATE, parts, load, group_prefix=self.settings.app_id
        )
        self.heads.update(self._chain_heads(parts))
        log.info("fanout assigned %s: %d borrowers", parts, self.store.size())

    def revoked(self, partitions: list[TopicPartition]) -> None:
        parts = {tp.partition for tp in partitions}
        self.store.forget(parts)
        for p in parts:
            self.heads.pop(p, None)

    def _chain_heads(self, parts: list[int]) -> dict[int, ChainHead]:
        """The audit heads of ``parts``, waiting out a crashed writer's open transaction."""
        while True:
            try:
                return chain_heads(self._conf, parts, codec=self.codec)
            except BrokerError as exc:
                if self._stopping.is_set():
                    raise
                log.warning("audit chain heads not readable yet (%s); retrying", exc)
                time.sleep(1)

    # -- the prune timer ----------------------------------------------------------------
    def due(self) -> bool:
        self._take_due()
        return bool(self._due)

    def _take_due(self) -> None:
        """Every prune interval: the entries whose earliest expiry has passed."""
        if time.monotonic() >= self._next_prune:
            self._due = self.store.due(now_ms())
            self._next_prune = time.monotonic() + self._prune_s

    def _positions(self) -> list[TopicPartition]:
        """A prune-only transaction commits the current positions: it is fenced like
        any other if this worker lost its partitions."""
        consumer = self._consumer
        assert consumer is not None
        return [tp for tp in consumer.position(consumer.assignment()) if tp.offset >= 0]

    # -- the batch --------------------------------------------------------------------
    def _decode(self, batch: list[Message], dead: list[Reject]) -> list[Item]:
        """The batch's items; a record that does not decode goes to ``dead`` (only the
        exchange writes these topics: a bug upstream, see ``streams.runtime.deadletter``;
        never a reason to stop every bank's feed unless nearly all are bad)."""
        items: list[Item] = []
        guard = self.guard
        for msg in batch:
            value, partition = msg.value() or b"", msg.partition() or 0
            try:
                item: ProfileChange | ConsentRequest
                if msg.topic() == topics.PROFILE_UPDATES:
                    item = change_from_datum(self.codec.decode(value, EXPECTED)[1])
                else:
                    item = decode_request(value)
            except (DecodeError, KeyError, TypeError, ValueError) as exc:
                self.refuse(msg, exc, guard, dead)
                continue
            guard.observe(False)
            items.append((partition, item))
        guard.check()
        return items

    def stage(self, batch: list[Message]) -> Staged | None:
        self._take_due()
        due, self._due = self._due, []
        offsets = next_offsets(batch) if batch else self._positions()
        if not offsets:  # nothing assigned any more: prune once partitions come back
            self.store.defer(due, now_ms() + int(self._prune_s * 1000))
            return None
        dead: list[Reject] = []
        items = self._decode(batch, dead)
        outcome = process_batch(items, due, self.store.get, now_ms())
        checkpoints = {p: h.checkpoint() for p, h in self.heads.items()}
        return Staged(outcome, offsets, checkpoints, dead)

    def offsets(self, batch: list[Message], staged: Staged) -> list[TopicPartition]:
        return staged.offsets

    def produce(self, producer: Producer, staged: Staged) -> None:
        encode, produce = self.codec.encode, producer.produce
        for p, d in staged.outcome.deliveries:
            produce(d.topic, encode(FEED_RECORD, d.record), d.key.encode())
            if d.audit is not None:
                sealed = self.heads[p].seal(d.audit)
                key = str(d.audit["borrower_id"]).encode()
                produce(topics.EXCHANGE_AUDIT, encode(AUDIT_RECORD, sealed), key, partition=p)
        for bid, (p, record, _expires) in staged.outcome.states.items():
            produce(topics.FANOUT_STATE, record, bid.encode(), partition=p)
        for letter in staged.dead:
            produce_dead_letter(producer, letter)

    def forget(self, staged: Staged | None) -> None:
        """The audit chains continue from their pre-batch heads."""
        self.stats.aborted += 1
        if staged is not None:
            for p, checkpoint in staged.checkpoints.items():
                if p in self.heads:
                    self.heads[p].reset(checkpoint)

    def committed(self, staged: Staged, seconds: float) -> None:
        outcome, dead = staged.outcome, staged.dead
        for bid, (p, record, expires) in outcome.states.items():
            self.store.put(p, bid, record, expires)
        s = self.stats
        s.batches += 1
        s.deliveries += len(outcome.deliveries)
        s.audited += sum(d.audit is not None for _, d in outcome.deliveries)
        s.stale += outcome.stale
        s.expired += outcome.expired
        s.undecodable += len(dead)
        if dead and self.on_dead is not None:
            self.on_dead(dead)
        if self.on_batch is not None:
            self.on_batch(outcome, seconds)

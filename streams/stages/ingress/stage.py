"""The ingress stage: an exactly-once confluent-kafka loop over every platform's topics.

Why not a Faust agent: Faust's per-message path costs ~165 µs (DESIGN.md), and its
decode path logs and commits records it cannot read. Here each fetched batch is one
Kafka transaction holding the accepted events, the rejects, the dedup changelog and
the consumer offsets (KIP-447): all of a batch's output becomes visible with its
offsets, or none of it does. A zombie whose group generation is stale is fenced at
commit. Nothing is dropped: a record is either forwarded or rejected with its bytes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from confluent_kafka import Consumer, Message, Producer, TopicPartition

from streams import topics
from streams.clock import now_ms
from streams.runtime.guard import RatioGuard
from streams.runtime.tenantgate import TenantGate
from streams.runtime.txloop import batch_transaction, batches, replay_changelog, stage_clients
from streams.settings import KafkaConf, Settings
from streams.stages.ingress.dedup import changelog_key, changelog_partition, parse_changelog
from streams.stages.ingress.process import (
    Accepted,
    IngressProcessor,
    RawRecord,
    Refused,
)
from streams.wire.rejects import Reason

log = logging.getLogger(__name__)
DUPLICATE = str(Reason.DUPLICATE_EVENT)

#: librdkafka regex subscription (leading ^): every platform, present and future.
SUBSCRIPTION = rf"^ingest\.{topics.TENANT_RE}\.(loans|activity)$"


@dataclass
class IngressStats:
    """Counters since start (the metrics bridge reads these; tests too)."""

    accepted: Counter[tuple[str, str]] = field(default_factory=Counter)  # (platform, type)
    rejected: Counter[tuple[str, str]] = field(default_factory=Counter)  # (platform, reason)
    batches: int = 0
    aborted: int = 0
    restored_ids: int = 0


BatchHook = Callable[[list[Accepted | Refused], float], None]
#: Called every few seconds from the loop's thread with the consumer (lag reporting).
ConsumerHook = Callable[[Consumer], None]


def _platform(topic: str) -> str | None:
    parsed = topics.platform_of(topic)
    return parsed[0] if parsed else None


class IngressStage:
    """Consume ingest topics, process, and write outputs transactionally."""

    def __init__(self, settings: Settings, processor: IngressProcessor, guard: RatioGuard) -> None:
        self.settings = settings
        self.processor = processor
        self.guard = guard
        self.stats = IngressStats()
        self.on_batch: BatchHook | None = None
        self.on_tick: ConsumerHook | None = None
        self.tick_s = 5.0
        self.ready = threading.Event()
        self._stopping = threading.Event()
        self._conf: KafkaConf = settings.kafka_client_config()
        #: Platforms whose rejected topic is missing wait, paused (streams.runtime.tenantgate).
        self.gate = TenantGate(
            "ingress",
            _platform,
            lambda p: [topics.rejected(p)],
            "provision-platform",
            self._conf,
        )

    # -- lifecycle ------------------------------------------------------------------
    def stop(self) -> None:
        self._stopping.set()

    def run(self) -> None:
        """Block until ``stop()``; raises on fatal errors (after aborting the batch).
        Each call starts afresh from Kafka (``streams.runtime.host`` restarts it)."""
        self.ready.clear()
        self.processor.dedup.clear()
        # New platforms' topics are picked up without a restart.
        extra: KafkaConf = {"topic.metadata.refresh.interval.ms": 5000}
        with stage_clients(self._conf, self.settings, "ingress", extra) as (consumer, producer):
            consumer.subscribe([SUBSCRIPTION], on_assign=self._on_assign, on_revoke=self._on_revoke)
            for batch in batches(
                consumer,
                self.settings.ingress_batch_max,
                stopping=self._stopping,
                ready=self.ready,
                on_tick=self._tick,
                tick_s=self.tick_s,
            ):
                if batch:
                    self._transact(consumer, producer, batch)

    def _tick(self, consumer: Consumer) -> None:
        self.gate.recheck(consumer)
        if self.on_tick is not None:
            self.on_tick(consumer)

    # -- rebalance ------------------------------------------------------------------
    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        sources = {(tp.topic, tp.partition) for tp in partitions}
        self.gate.assign(consumer, partitions)
        self._restore_dedup(sources)
        self.ready.set()
        log.info("ingress assigned %d partitions", len(partitions))

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.gate.revoke(partitions)
        self.processor.dedup.forget((tp.topic, tp.partition) for tp in partitions)

    def _restore_dedup(self, sources: set[tuple[str, int]]) -> None:
        """Replay the dedup changelog partitions that hold ``sources``' memory."""
        if not sources:
            return
        now = now_ms()
        dedup = self.processor.dedup

        def load(_partition: int, key: bytes, value: bytes | None) -> None:
            source, event_id, expiry = parse_changelog(key, value)
            if source in sources:
                dedup.load(source, event_id, expiry, now)
                self.stats.restored_ids += 1

        n = self.settings.partitions
        wanted = {changelog_partition(s, n) for s in sources}
        replay_changelog(
            self._conf, topics.INGRESS_DEDUP, wanted, load, group_prefix=self.settings.app_id
        )

    # -- the batch transaction ------------------------------------------------------
    def _transact(self, consumer: Consumer, producer: Producer, batch: list[Message]) -> None:
        began = time.perf_counter()
        now = now_ms()
        outcomes: list[Accepted | Refused] = []
        with batch_transaction(consumer, producer, batch, on_abort=self._forget_batch):
            for msg in batch:
                outcome = self._one(producer, msg, now)
                outcomes.append(outcome)
                # Re-sent events are the platform's doing, never a sign of broken code.
                if not (isinstance(outcome, Refused) and outcome.reject.reason == DUPLICATE):
                    self.guard.observe(isinstance(outcome, Refused))
            self.guard.check()
        self.processor.dedup.commit()
        self.stats.batches += 1
        for o in outcomes:
            if isinstance(o, Accepted):
                self.stats.accepted[(o.platform, o.event_type)] += 1
            else:
                self.stats.rejected[(o.platform, o.reject.reason)] += 1
        if self.on_batch is not None:
            self.on_batch(outcomes, time.perf_counter() - began)

    def _one(self, producer: Producer, msg: Message, now: int) -> Accepted | Refused:
        topic, partition, offset = msg.topic() or "", msg.partition() or 0, msg.offset() or 0
        _kind, ts = msg.timestamp()
        rec = RawRecord(topic, partition, offset, msg.value(), ts if ts > 0 else now)
        outcome = self.processor.process(rec, now)
        if isinstance(outcome, Accepted):
            producer.produce(topics.EXCHANGE_EVENTS, outcome.value, outcome.key)
            producer.produce(
                topics.INGRESS_DEDUP,
                str(outcome.dedup_expiry).encode(),
                changelog_key((topic, partition), outcome.event_id),
                partition=changelog_partition((topic, partition), self.settings.partitions),
            )
        else:
            reject = outcome.reject
            producer.produce(
                topics.rejected(outcome.platform),
                reject.original,
                reject.key.encode(),
                headers=reject.headers(),
            )
        return outcome

    def _forget_batch(self) -> None:
        """A failed batch leaves no trace: its staged event_ids are forgotten."""
        self.stats.aborted += 1
        self.processor.dedup.abort()

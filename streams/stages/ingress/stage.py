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
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from confluent_kafka import Consumer, KafkaError, Message, Producer, TopicPartition

from streams import topics
from streams.clock import now_ms
from streams.runtime.changelog import open_txn_wait
from streams.runtime.guard import RatioGuard
from streams.runtime.loop import StageLoop
from streams.runtime.reports import wait_reports
from streams.runtime.state import FlushTimer
from streams.runtime.tenantgate import TenantGate
from streams.settings import Settings
from streams.stages.ingress.dedup import changelog_key, changelog_partition
from streams.stages.ingress.process import Accepted, IngressProcessor, RawRecord, Refused
from streams.stages.ingress.recovery import restore_dedup
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


Outcome = Accepted | Refused
#: A batch's outcomes with the ingest partition each record came from.
Staged = list[tuple[tuple[str, int], Outcome]]
BatchHook = Callable[[list[Outcome], float], None]


def _platform(topic: str) -> str | None:
    parsed = topics.platform_of(topic)
    return parsed[0] if parsed else None


class IngressStage(StageLoop[Staged]):
    """Validate, pseudonymize and dedup platform records (``runtime.loop``)."""

    name = "ingress"

    def __init__(self, settings: Settings, processor: IngressProcessor, guard: RatioGuard) -> None:
        # A platform whose rejected topic is missing waits, paused.
        self.gate: TenantGate = TenantGate(
            "ingress",
            _platform,
            lambda p: [topics.rejected(p)],
            "provision-platform",
            settings.kafka_client_config(),
        )
        super().__init__(
            settings,
            settings.ingress_batch_max,
            # New platforms' topics are picked up without a restart.
            consumer_extra={"topic.metadata.refresh.interval.ms": 5000},
            gate=self.gate,
        )
        self.processor = processor
        self.guard = guard
        self.stats = IngressStats()
        self.on_batch: BatchHook | None = None
        #: The changelog offset of each source's last dedup record in the batch being
        #: committed (delivery reports; the checkpoints written after the commit).
        self._reached: dict[tuple[str, int], int] = {}
        self._flush = FlushTimer(settings.state_flush_every_s)

    def subscription(self) -> list[str]:
        return [SUBSCRIPTION]

    def reset(self) -> None:
        self.processor.dedup.close()
        self._reached.clear()

    def release(self) -> None:
        self.processor.dedup.close()

    def tick(self) -> None:
        """Expired event_ids leave the stores a slice at a time; now and then the
        stores' memory goes to their files."""
        self.processor.dedup.sweep(now_ms())
        if self._flush.due():
            self.processor.dedup.flush()

    # -- rebalance ------------------------------------------------------------------
    def assigned(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        began = time.perf_counter()
        restored = restore_dedup(
            self._conf,
            self.settings.app_id,
            self.processor.dedup,
            {(tp.topic, tp.partition) for tp in partitions},
            now_ms(),
            open_txn_wait(self.settings.transaction_timeout_ms),
            self._stopping,
        )
        self.stats.restored_ids += restored
        log.info(
            "ingress assigned %d partitions: %d dedup records replayed in %.1fs",
            len(partitions),
            restored,
            time.perf_counter() - began,
        )

    def revoked(self, partitions: list[TopicPartition]) -> None:
        self.processor.dedup.forget((tp.topic, tp.partition) for tp in partitions)

    # -- the batch --------------------------------------------------------------------
    def stage(self, batch: list[Message]) -> Staged:
        now, process, guard = now_ms(), self.processor.process, self.guard
        staged: Staged = []
        for msg in batch:
            topic, partition = msg.topic() or "", msg.partition() or 0
            _kind, ts = msg.timestamp()
            rec = RawRecord(topic, partition, msg.offset() or 0, msg.value(), ts if ts > 0 else now)
            outcome = process(rec, now)
            staged.append(((topic, partition), outcome))
            # Re-sent events are the platform's doing, never a sign of broken code.
            if not (isinstance(outcome, Refused) and outcome.reject.reason == DUPLICATE):
                guard.observe(isinstance(outcome, Refused))
        guard.check()
        return staged

    def produce(self, producer: Producer, staged: Staged) -> None:
        n, reached = self.settings.partitions, self._reached
        reached.clear()
        last = {source: i for i, (source, o) in enumerate(staged) if isinstance(o, Accepted)}

        def delivered(err: KafkaError | None, msg: Message) -> None:
            if err is None:  # the source's last dedup record: its checkpoint
                topic, part, _id = (msg.key() or b"").decode().split("|", 2)
                reached[(topic, int(part))] = msg.offset() or 0

        for i, (source, outcome) in enumerate(staged):
            if isinstance(outcome, Accepted):
                producer.produce(topics.EXCHANGE_EVENTS, outcome.value, outcome.key)
                producer.produce(
                    topics.INGRESS_DEDUP,
                    str(outcome.dedup_expiry).encode(),
                    changelog_key(source, outcome.event_id),
                    partition=changelog_partition(source, n),
                    on_delivery=delivered if last[source] == i else None,
                )
            else:
                reject = outcome.reject
                producer.produce(
                    topics.rejected(outcome.platform),
                    reject.original,
                    reject.key.encode(),
                    headers=reject.headers(),
                )

    def forget(self, staged: Staged | None) -> None:
        """A failed batch leaves no trace: staged event_ids are forgotten (the loop
        undoes every staged batch together, so all of them)."""
        self.stats.aborted += 1
        self.processor.dedup.abort()

    def committed(self, staged: Staged, seconds: float) -> None:
        accepted = [(source, o.event_id) for source, o in staged if isinstance(o, Accepted)]
        wanted = {source for source, _id in accepted}
        reached = wait_reports(self._producer, wanted, self._reached, "dedup sources")
        self.processor.dedup.commit(accepted, {s: reached[s] for s in wanted})
        self.stats.batches += 1
        outcomes = [o for _, o in staged]
        for o in outcomes:
            if isinstance(o, Accepted):
                self.stats.accepted[(o.platform, o.event_type)] += 1
            else:
                self.stats.rejected[(o.platform, o.reject.reason)] += 1
        if self.on_batch is not None:
            self.on_batch(outcomes, seconds)

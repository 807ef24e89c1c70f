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
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from confluent_kafka import Consumer, Message, Producer, TopicPartition

from streams import topics
from streams.clock import now_ms
from streams.runtime.changelog import open_txn_wait, replay_changelog
from streams.runtime.guard import RatioGuard
from streams.runtime.loop import StageLoop
from streams.runtime.tenantgate import TenantGate
from streams.settings import Settings
from streams.stages.ingress.dedup import changelog_key, changelog_partition, parse_changelog
from streams.stages.ingress.process import Accepted, IngressProcessor, RawRecord, Refused
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

    def subscription(self) -> list[str]:
        return [SUBSCRIPTION]

    def reset(self) -> None:
        self.processor.dedup.clear()

    # -- rebalance ------------------------------------------------------------------
    def assigned(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._restore_dedup({(tp.topic, tp.partition) for tp in partitions})
        log.info("ingress assigned %d partitions", len(partitions))

    def revoked(self, partitions: list[TopicPartition]) -> None:
        self.processor.dedup.forget((tp.topic, tp.partition) for tp in partitions)

    def _restore_dedup(self, sources: set[tuple[str, int]]) -> None:
        """Replay the dedup changelog partitions that hold ``sources``' memory."""
        if not sources:
            return
        now = now_ms()
        dedup = self.processor.dedup

        def load(_partition: int, _offset: int, key: bytes, value: bytes | None) -> None:
            source, event_id, expiry = parse_changelog(key, value)
            if source in sources:
                dedup.load(source, event_id, expiry, now)
                self.stats.restored_ids += 1

        n = self.settings.partitions
        wanted = {changelog_partition(s, n) for s in sources}
        replay_changelog(
            self._conf,
            topics.INGRESS_DEDUP,
            wanted,
            load,
            group_prefix=self.settings.app_id,
            open_txn_wait_s=open_txn_wait(self.settings.transaction_timeout_ms),
        )

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
        n = self.settings.partitions
        for source, outcome in staged:
            if isinstance(outcome, Accepted):
                producer.produce(topics.EXCHANGE_EVENTS, outcome.value, outcome.key)
                producer.produce(
                    topics.INGRESS_DEDUP,
                    str(outcome.dedup_expiry).encode(),
                    changelog_key(source, outcome.event_id),
                    partition=changelog_partition(source, n),
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
        self.processor.dedup.commit(accepted)
        self.stats.batches += 1
        outcomes = [o for _, o in staged]
        for o in outcomes:
            if isinstance(o, Accepted):
                self.stats.accepted[(o.platform, o.event_type)] += 1
            else:
                self.stats.rejected[(o.platform, o.reject.reason)] += 1
        if self.on_batch is not None:
            self.on_batch(outcomes, seconds)

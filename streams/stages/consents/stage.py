"""The consent stage: an exactly-once loop over every bank's subscription topic.

Reads ``banks.<bank>.subscriptions`` of every bank, present and future (regex
subscription), and per fetched batch writes, in ONE Kafka transaction with the
consumer offsets (KIP-447): each accepted request, pseudonymized, to
``exchange.consents`` keyed by borrower_id (so it lands on the borrower-stage partition that
owns the borrower), and each refused one as a ``SUBSCRIPTION_REJECT`` on the bank's
feed. Accepted requests are answered by the borrower stage, which holds the subscriptions and
the current profile (ack with a snapshot, ``NO_DATA_YET``, or a reject such as a REVOKE
of nothing). Stateless: a crash re-reads the uncommitted batch, and since its outputs
were aborted with it nothing is forwarded or answered twice.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from confluent_kafka import Consumer, Message, Producer, TopicPartition

from streams import topics
from streams.clock import now_ms
from streams.runtime.loop import StageLoop
from streams.runtime.tenantgate import TenantGate
from streams.settings import Settings
from streams.stages.consents.process import ConsentProcessor, Forward, Refusal
from streams.wire.codec import SniffingCodec
from streams.wire.headers import schema_headers
from streams.wire.schemas import FEED_RECORD

log = logging.getLogger(__name__)

#: librdkafka regex subscription (leading ^): every bank, present and future.
SUBSCRIPTION = rf"^banks\.{topics.TENANT_RE}\.subscriptions$"


@dataclass
class ConsentStats:
    """Counters since start (metrics wiring and tests read these)."""

    forwarded: Counter[str] = field(default_factory=Counter)  # by bank
    refused: Counter[tuple[str, str]] = field(default_factory=Counter)  # (bank, reason)
    batches: int = 0
    aborted: int = 0


Outcomes = list[Forward | Refusal]
BatchHook = Callable[[Outcomes], None]


class ConsentStage(StageLoop[Outcomes]):
    """Validate subscription requests; forward or answer them (``runtime.loop``)."""

    name = "consents"

    def __init__(self, settings: Settings, processor: ConsentProcessor) -> None:
        # Answers go to the bank's feed: a bank whose feed is missing waits, paused.
        self.gate: TenantGate = TenantGate(
            "consents",
            topics.bank_of,
            lambda b: [topics.feed(b)],
            "provision-bank",
            settings.kafka_client_config(),
        )
        super().__init__(
            settings,
            settings.consent_batch_max,
            consumer_extra={"topic.metadata.refresh.interval.ms": 5000},  # new banks
            gate=self.gate,
        )
        self.processor = processor
        self.codec: SniffingCodec = processor.codec
        self.stats = ConsentStats()
        self.on_batch: BatchHook | None = None

    def subscription(self) -> list[str]:
        return [SUBSCRIPTION]

    def assigned(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        banks = {b for tp in partitions if (b := topics.bank_of(tp.topic))}
        log.info("consents assigned %d partitions of %d bank(s)", len(partitions), len(banks))

    def stage(self, batch: list[Message]) -> Outcomes:
        now, handle = now_ms(), self.processor.handle
        return [
            handle(m.topic() or "", m.partition() or 0, m.offset() or 0, m.value(), now)
            for m in batch
        ]

    def produce(self, producer: Producer, staged: Outcomes) -> None:
        for outcome in staged:
            if isinstance(outcome, Forward):
                producer.produce(topics.CONSENTS, outcome.value, outcome.key)
            else:
                d = outcome.delivery
                value = self.codec.encode(FEED_RECORD, d.record)
                producer.produce(d.topic, value, d.key, headers=schema_headers(FEED_RECORD))

    def forget(self, staged: Outcomes | None) -> None:
        self.stats.aborted += 1

    def committed(self, staged: Outcomes, seconds: float) -> None:
        self.stats.batches += 1
        for o in staged:
            if isinstance(o, Forward):
                self.stats.forwarded[o.bank] += 1
            else:
                self.stats.refused[(o.bank, str(o.reason))] += 1
        if self.on_batch is not None:
            self.on_batch(staged)

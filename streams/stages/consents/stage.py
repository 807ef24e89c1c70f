"""The consent stage: an exactly-once loop over every bank's subscription topic.

Reads ``banks.<bank>.subscriptions`` of every bank, present and future (regex
subscription), and per fetched batch writes, in ONE Kafka transaction with the
consumer offsets (KIP-447): each accepted request, pseudonymized, to
``exchange.consents`` keyed by borrower_id (so it lands on the fan-out partition that
owns the borrower), and each refused one as a ``SUBSCRIPTION_REJECT`` on the bank's
feed. Accepted requests are answered by the fan-out, which holds the subscriptions and
the current profile (ack with a snapshot, ``NO_DATA_YET``, or a reject such as a REVOKE
of nothing). Stateless: a crash re-reads the uncommitted batch, and since its outputs
were aborted with it nothing is forwarded or answered twice.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from confluent_kafka import Consumer, Message, Producer, TopicPartition

from streams import topics
from streams.clock import now_ms
from streams.runtime.tenantgate import TenantGate
from streams.runtime.txloop import batch_transaction, batches, stage_clients
from streams.settings import KafkaConf, Settings
from streams.stages.consents.process import ConsentProcessor, Forward, Refusal
from streams.wire.codec import SniffingCodec
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


BatchHook = Callable[[list[Forward | Refusal]], None]


class ConsentStage:
    """Consume subscription topics, validate, and write outputs transactionally."""

    def __init__(self, settings: Settings, processor: ConsentProcessor) -> None:
        self.settings = settings
        self.processor = processor
        self.codec: SniffingCodec = processor.codec
        self.stats = ConsentStats()
        self.on_batch: BatchHook | None = None
        self.ready = threading.Event()
        self._stopping = threading.Event()
        self._conf: KafkaConf = settings.kafka_client_config()
        #: Banks whose feed topic is missing wait, paused (streams.runtime.tenantgate).
        self.gate = TenantGate(
            "consents", topics.bank_of, lambda b: [topics.feed(b)], "provision-bank", self._conf
        )
        self.on_tick: Callable[[Consumer], None] | None = None
        self.tick_s = 5.0

    def stop(self) -> None:
        self._stopping.set()

    def run(self) -> None:
        """Block until ``stop()``; raises on fatal errors (after aborting the batch).
        Each call starts afresh from Kafka (``streams.runtime.host`` restarts it)."""
        self.ready.clear()
        extra: KafkaConf = {"topic.metadata.refresh.interval.ms": 5000}  # new banks
        with stage_clients(self._conf, self.settings, "consents", extra) as (consumer, producer):
            consumer.subscribe([SUBSCRIPTION], on_assign=self._on_assign, on_revoke=self._on_revoke)
            for batch in batches(
                consumer,
                self.settings.consent_batch_max,
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

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        banks = {b for tp in partitions if (b := topics.bank_of(tp.topic))}
        self.gate.assign(consumer, partitions)  # answers go to the feed: it must exist
        self.ready.set()
        log.info("consents assigned %d partitions of %d bank(s)", len(partitions), len(banks))

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.gate.revoke(partitions)

    def _count_abort(self) -> None:
        self.stats.aborted += 1

    def _transact(self, consumer: Consumer, producer: Producer, batch: list[Message]) -> None:
        now = now_ms()
        outcomes: list[Forward | Refusal] = []
        with batch_transaction(consumer, producer, batch, on_abort=self._count_abort):
            for msg in batch:
                outcome = self.processor.handle(
                    msg.topic() or "", msg.partition() or 0, msg.offset() or 0, msg.value(), now
                )
                outcomes.append(outcome)
                if isinstance(outcome, Forward):
                    producer.produce(topics.CONSENTS, outcome.value, outcome.key)
                else:
                    d = outcome.delivery
                    producer.produce(d.topic, self.codec.encode(FEED_RECORD, d.record), d.key)
        self.stats.batches += 1
        for o in outcomes:
            if isinstance(o, Forward):
                self.stats.forwarded[o.bank] += 1
            else:
                self.stats.refused[(o.bank, str(o.reason))] += 1
        if self.on_batch is not None:
            self.on_batch(outcomes)

"""A stage's Kafka clients and the offset arithmetic of its transactions.

* ``StageIdentity``: the stable ids that let a restarted worker fence its crashed self;
* ``transactional_producer`` / ``stage_consumer`` / ``stage_clients``: the client
  settings every stage needs, built once the stage's topics are known to be right;
* ``fetch_batch``: a batch that waits for its first record only;
* ``next_offsets`` / ``rewind`` / ``abort``: what a batch commits, and the undo.

The commit protocol that uses them is ``streams.runtime.loop.StageLoop``; changelog
replay is ``streams.runtime.changelog``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from confluent_kafka import (
    Consumer,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)

from streams.runtime import provision
from streams.runtime.instance import instance_id
from streams.settings import KafkaConf, Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StageIdentity:
    """Who a stage's clients are: its consumer group and this worker's stable instance.

    ``group.instance.id`` and ``transactional.id`` are both ``<group>-<instance>``, so a
    restarted worker (same instance, see ``streams.runtime.instance``) rejoins its group without
    a rebalance and fences its crashed predecessor's producer, aborting the open
    transaction at once. Zombies of a *different* instance (paused past the session
    timeout while another worker took their partitions) are fenced by the consumer
    group generation checked in ``send_offsets_to_transaction`` (KIP-447).
    """

    group: str
    instance: str
    session_timeout_ms: int
    transaction_timeout_ms: int

    @classmethod
    def of(cls, settings: Settings, stage: str) -> StageIdentity:
        return cls(
            group=f"{settings.app_id}-{stage}",
            instance=instance_id(settings),
            session_timeout_ms=settings.session_timeout_ms,
            transaction_timeout_ms=settings.transaction_timeout_ms,
        )

    @property
    def member(self) -> str:
        return f"{self.group}-{self.instance}"


def transactional_producer(
    conf: KafkaConf, ident: StageIdentity, **extra: str | int | float | bool
) -> Producer:
    """An idempotent, transactional producer; ``init_transactions`` fences (and aborts
    the open transaction of) any earlier producer of the same stage and instance."""
    producer = Producer(
        conf
        | {
            "transactional.id": ident.member,
            "transaction.timeout.ms": ident.transaction_timeout_ms,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 5,
            "partitioner": "murmur2_random",  # the partitions Java and Faust clients pick
            # A transaction's first request after the previous commit meets
            # CONCURRENT_TRANSACTIONS while the broker still writes the previous
            # markers; librdkafka retries after retry.backoff.ms (default 100 ms), which
            # was ~105 ms of every batch (bench/bench_txn_latency.py). Retry at
            # once, backing off exponentially to 50 ms.
            "retry.backoff.ms": 1,
            "retry.backoff.max.ms": 50,
        }
        | extra
    )
    producer.init_transactions(30)
    return producer


def stage_consumer(
    conf: KafkaConf, ident: StageIdentity, **extra: str | int | float | bool
) -> Consumer:
    """A static group member that reads only committed data and never commits by itself."""
    return Consumer(
        conf
        | {
            "group.id": ident.group,
            "group.instance.id": ident.member,
            "session.timeout.ms": ident.session_timeout_ms,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed",
            "partition.assignment.strategy": "range",
        }
        | extra
    )


def fetch_batch(consumer: Consumer, max_messages: int, timeout: float = 0.2) -> list[Message]:
    """Up to ``max_messages``: waits up to ``timeout`` for the first one only, then takes
    whatever else has already been fetched, without waiting for a full batch.

    ``consume(n, timeout)`` alone waits until n arrive or the timeout passes, which adds
    the timeout to every hop at light load (~0.2 s per stage, three stages to a feed).
    This way a batch is what arrived while the previous one was committing: small and
    quick when traffic is light, full when it is heavy.
    """
    first = consumer.consume(1, timeout)
    if not first or max_messages <= 1:
        return first
    return first + consumer.consume(max_messages - 1, 0)


@contextmanager
def stage_clients(
    conf: KafkaConf,
    settings: Settings,
    stage: str,
    consumer_extra: KafkaConf | None = None,
    producer_extra: KafkaConf | None = None,
) -> Iterator[tuple[Consumer, Producer]]:
    """A stage's consumer and transactional producer (identity ``StageIdentity.of``),
    once the exchange's topics exist and the topics the stage joins by key are
    co-partitioned (else StageHaltError, one line); closed and flushed on the way out."""
    provision.prepare_stage(conf, stage, settings.partitions)
    ident = StageIdentity.of(settings, stage)
    wait: KafkaConf = {
        "fetch.wait.max.ms": settings.stage_fetch_wait_ms,
        "fetch.min.bytes": settings.stage_fetch_min_bytes,
    }
    consumer = stage_consumer(conf, ident, **(wait | (consumer_extra or {})))
    extra = {"compression.type": settings.stage_compression} | (producer_extra or {})
    producer = transactional_producer(conf, ident, **extra)
    try:
        yield consumer, producer
    finally:
        consumer.close()
        producer.flush(10)


def usable(msg: Message) -> bool:
    """True for a data message; raises on a fatal client error, logs the rest."""
    err = msg.error()
    if err is None:
        return True
    if err.fatal():
        raise KafkaException(err)
    log.warning("consumer: %s", err)
    return False


def next_offsets(batch: Iterable[Message]) -> list[TopicPartition]:
    """The offsets to commit after ``batch``: last offset + 1 per partition."""
    last: dict[tuple[str, int], int] = {}
    for m in batch:
        last[(m.topic() or "", m.partition() or 0)] = (m.offset() or 0) + 1
    return [TopicPartition(t, p, o) for (t, p), o in last.items()]


def rewind(consumer: Consumer, batch: Iterable[Message]) -> None:
    """Seek back to the first offset of ``batch`` in each partition, to redo it."""
    first: dict[tuple[str, int], int] = {}
    for m in batch:
        first.setdefault((m.topic() or "", m.partition() or 0), m.offset() or 0)
    for (topic, partition), offset in first.items():
        try:
            consumer.seek(TopicPartition(topic, partition, offset))
        except KafkaException as exc:  # revoked meanwhile: the new owner re-reads it
            log.warning("rewind of %s[%d] failed: %s", topic, partition, exc)


def abort(producer: Producer) -> None:
    """Abort the open transaction; a failed abort is logged (the next init fences it)."""
    try:
        producer.abort_transaction(30)
    except KafkaException as exc:
        log.error("abort_transaction failed: %s", exc)

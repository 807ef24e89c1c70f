"""Where an assigned partition starts: the group's committed offset, read stably.

``committed_starts`` is what the stage loop assigns partitions with
(``streams.runtime.positions``), so librdkafka never looks the offsets up itself (its
own lookup, answered after a rebalance, restarted a partition from offset 0 in a chaos
run). Each test commits offsets through a real transaction, as a stage does (KIP-447
``send_offsets_to_transaction``), and a transaction left open is ended from the
warning line the wait writes: no sleep, no timing.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import uuid
from collections.abc import Callable, Iterator

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Producer, TopicPartition

from streams.runtime.positions import StartsStoppedError, committed_starts
from streams.settings import KafkaConf

pytestmark = pytest.mark.integration


def _transaction(conf: KafkaConf, group: str, offsets: list[TopicPartition]) -> Producer:
    """A producer whose open transaction holds ``offsets`` for ``group``."""
    producer = Producer(conf | {"transactional.id": f"positions-{uuid.uuid4().hex[:8]}"})
    producer.init_transactions(30)
    producer.begin_transaction()
    member = Consumer(conf | {"group.id": group})  # never joins: generation -1
    try:
        producer.send_offsets_to_transaction(offsets, member.consumer_group_metadata(), 30)
    finally:
        member.close()
    return producer


@contextlib.contextmanager
def _on_warning(then: Callable[[], None]) -> Iterator[list[str]]:
    """Run ``then`` at the first warning of ``streams.runtime.positions``."""
    lines: list[str] = []

    class Hook(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())
            if len(lines) == 1:
                then()

    hook = Hook(logging.WARNING)
    logger = logging.getLogger("streams.runtime.positions")
    logger.addHandler(hook)
    try:
        yield lines
    finally:
        logger.removeHandler(hook)


def _offsets(starts: list[TopicPartition]) -> dict[int, int]:
    return {tp.partition: tp.offset for tp in starts}


def test_committed_offsets_are_the_starts_and_a_partition_without_one_starts_at_the_beginning(
    kafka_conf: KafkaConf, new_topic: Callable[..., str]
) -> None:
    """Partition 0: committed at 7. Partition 2: its only offsets were in an aborted
    transaction. Partition 1: never committed (a new partition or tenant)."""
    topic, group = new_topic("positions", partitions=3), f"positions-{uuid.uuid4().hex[:8]}"
    _transaction(kafka_conf, group, [TopicPartition(topic, 0, 7)]).commit_transaction(30)
    _transaction(kafka_conf, group, [TopicPartition(topic, 2, 3)]).abort_transaction(30)
    starts = committed_starts(kafka_conf, group, [TopicPartition(topic, p) for p in range(3)])
    assert _offsets(starts) == {0: 7, 1: OFFSET_BEGINNING, 2: OFFSET_BEGINNING}
    assert {tp.topic for tp in starts} == {topic}


def test_offsets_a_transaction_still_holds_are_waited_for(
    kafka_conf: KafkaConf, new_topic: Callable[..., str]
) -> None:
    """While a transaction commits offsets of the partition (its writer between
    ``send_offsets_to_transaction`` and ``commit_transaction``), the start is not
    guessed: it is asked again until the transaction ends, and is then its offset."""
    topic, group = new_topic("positions", partitions=2), f"positions-{uuid.uuid4().hex[:8]}"
    holding = _transaction(kafka_conf, group, [TopicPartition(topic, 0, 11)])
    with _on_warning(lambda: holding.commit_transaction(30)) as lines:
        starts = committed_starts(
            kafka_conf, group, [TopicPartition(topic, 0), TopicPartition(topic, 1)], ask_s=1
        )
    assert _offsets(starts) == {0: 11, 1: OFFSET_BEGINNING}
    assert lines and "not readable" in lines[0]


def test_a_stop_request_ends_the_wait(kafka_conf: KafkaConf, new_topic: Callable[..., str]) -> None:
    topic, group = new_topic("positions"), f"positions-{uuid.uuid4().hex[:8]}"
    holding = _transaction(kafka_conf, group, [TopicPartition(topic, 0, 4)])
    stopping = threading.Event()
    try:
        with _on_warning(stopping.set), pytest.raises(StartsStoppedError):
            committed_starts(
                kafka_conf, group, [TopicPartition(topic, 0)], stopping=stopping, ask_s=1
            )
    finally:
        with contextlib.suppress(KafkaException):
            holding.abort_transaction(30)

"""A changelog replay reads to the high watermark: a transaction that is open when the
replay starts is waited for, never cut off at the last stable offset.

The race this pins: a new owner replays a stage's changelog while the previous owner's
commit is still writing its markers. A read_committed reader is told the partition ends
at the last stable offset, before that transaction's records; a replay that stopped
there missed state (ingress: the event_ids of the batch, so a re-sent event would be
accepted twice) although the consumer then found the batch's offsets committed.

Each test commits or aborts the open transaction from inside the replay's own
``on_record`` callback for a record of another partition, or from its error line about
a transaction open too long, so the replay has already looked up its ends and started
reading (or waiting) when the transaction ends: no sleep, no timing.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import uuid
from collections.abc import Callable

import pytest
from confluent_kafka import KafkaException, Producer

from streams.runtime.changelog import ReplayStoppedError, replay_changelog
from streams.settings import KafkaConf

pytestmark = pytest.mark.integration


def _writer(conf: KafkaConf) -> Producer:
    producer = Producer(conf | {"transactional.id": f"replay-test-{uuid.uuid4().hex[:8]}"})
    producer.init_transactions(30)
    return producer


def _a_committed_and_c_open(conf: KafkaConf, topic: str) -> Producer:
    """a committed to partition 0; c in partition 1, its transaction left open (nothing
    committed there: that partition's last stable offset is 0). Returns c's writer."""
    writer = _writer(conf)
    writer.begin_transaction()
    writer.produce(topic, b"1", b"a", partition=0)
    writer.commit_transaction(30)
    writer.begin_transaction()
    writer.produce(topic, b"3", b"c", partition=1)
    writer.flush(30)  # c is in the log, its transaction open
    return writer


def _replay_ending_open_txn(
    conf: KafkaConf, topic: str, end: Callable[[Producer], None]
) -> list[tuple[int, bytes, bytes | None]]:
    """Replay both partitions of :func:`_a_committed_and_c_open` and end c's transaction
    with ``end`` when the replay delivers a (its ends are known and it is reading by
    then)."""
    writer = _a_committed_and_c_open(conf, topic)
    seen: list[tuple[int, bytes, bytes | None]] = []

    def on_record(p: int, _offset: int, key: bytes, value: bytes | None) -> None:
        if key == b"a":
            end(writer)
        seen.append((p, key, value))

    replay_changelog(conf, topic, [0, 1], on_record, batch=1)
    return sorted(seen)


def test_a_transaction_open_at_the_start_that_commits_is_replayed(
    kafka_conf: KafkaConf, new_topic: Callable[..., str]
) -> None:
    topic = new_topic("changelog", partitions=2)
    seen = _replay_ending_open_txn(kafka_conf, topic, lambda w: w.commit_transaction(30))
    assert seen == [(0, b"a", b"1"), (1, b"c", b"3")]


def test_a_transaction_open_at_the_start_that_aborts_is_skipped(
    kafka_conf: KafkaConf, new_topic: Callable[..., str]
) -> None:
    topic = new_topic("changelog", partitions=2)
    seen = _replay_ending_open_txn(kafka_conf, topic, lambda w: w.abort_transaction(30))
    assert seen == [(0, b"a", b"1")]


def test_a_replay_from_a_stored_offset_reads_only_the_tail(
    kafka_conf: KafkaConf, new_topic: Callable[..., str]
) -> None:
    topic = new_topic("changelog")
    writer = _writer(kafka_conf)
    for key in (b"a", b"b", b"c"):
        writer.begin_transaction()
        writer.produce(topic, key.upper(), key)
        writer.commit_transaction(30)
    offsets: list[int] = []
    replay_changelog(kafka_conf, topic, [0], lambda _p, o, _k, _v: offsets.append(o))
    seen: list[bytes] = []
    count = replay_changelog(
        kafka_conf, topic, [0], lambda _p, _o, k, _v: seen.append(k), start={0: offsets[1]}
    )
    assert (count, seen) == (2, [b"b", b"c"])


class _OnError(logging.Handler):
    """Calls ``then`` on the replay's first error line (the operator reading the log)."""

    def __init__(self, then: Callable[[], None]) -> None:
        super().__init__(logging.ERROR)
        self.then, self.lines = then, list[str]()

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())
        if len(self.lines) == 1:
            self.then()


def _replay_behind_hang(
    conf: KafkaConf,
    topic: str,
    then: Callable[[Producer], None],
    stopping: threading.Event | None = None,
) -> tuple[list[bytes], list[str]]:
    """Partition 1 holds c in a transaction left open (a hanging one, as far as the
    replay can tell: its writer's timeout is far away) and d, committed after it by
    another writer, so hidden behind it. The replay runs with a 1 s wait; ``then(c's
    writer)`` runs at its first error line. Returns the keys replayed and the errors."""
    hanging = _a_committed_and_c_open(conf, topic)
    later = _writer(conf)
    later.begin_transaction()
    later.produce(topic, b"4", b"d", partition=1)
    later.commit_transaction(30)
    seen: list[bytes] = []
    handler = _OnError(lambda: then(hanging))
    logger = logging.getLogger("streams.runtime.changelog")
    logger.addHandler(handler)
    try:
        replay_changelog(
            conf,
            topic,
            [0, 1],
            lambda _p, _o, k, _v: seen.append(k),
            open_txn_wait_s=1,
            stopping=stopping,
        )
    finally:
        logger.removeHandler(handler)
        with contextlib.suppress(KafkaException):  # already aborted by ``then``
            hanging.abort_transaction(30)
    return seen, handler.lines


def test_a_transaction_open_past_the_wait_is_waited_for_and_what_it_hid_is_replayed(
    kafka_conf: KafkaConf, new_topic: Callable[..., str]
) -> None:
    """Past ``open_txn_wait_s`` the replay says so in an error line naming the partition
    and the fix, and goes on waiting: once the transaction is aborted (an operator's
    ``kafka-transactions.sh abort``; here its writer's own abort), the record committed
    behind it is replayed too. Stopping there would have lost d from the state."""
    topic = new_topic("changelog", partitions=2)
    seen, errors = _replay_behind_hang(kafka_conf, topic, lambda w: w.abort_transaction(30))
    assert sorted(seen) == [b"a", b"d"]
    assert f"replay of {topic}[1] waits at 0, end 3" in errors[0]
    assert "hanging transaction" in errors[0]
    assert "unready" in errors[0]


def test_a_stop_request_ends_the_wait_for_a_hanging_transaction(
    kafka_conf: KafkaConf, new_topic: Callable[..., str]
) -> None:
    """A worker asked to stop while its stage waits does not hang in the wait: the
    replay raises ``ReplayStoppedError`` (its state incomplete, nothing may use it)."""
    topic = new_topic("changelog", partitions=2)
    stopping = threading.Event()
    with pytest.raises(ReplayStoppedError, match=r"stopped"):
        _replay_behind_hang(kafka_conf, topic, lambda _w: stopping.set(), stopping=stopping)

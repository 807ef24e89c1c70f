"""A changelog replay reads to the high watermark: a transaction that is open when the
replay starts is waited for, never cut off at the last stable offset.

The race this pins: a new owner replays a stage's changelog while the previous owner's
commit is still writing its markers. A read_committed reader is told the partition ends
at the last stable offset, before that transaction's records; a replay that stopped
there missed state (ingress: the event_ids of the batch, so a re-sent event would be
accepted twice) although the consumer then found the batch's offsets committed.

Each test commits or aborts the open transaction from inside the replay's own
``on_record`` callback for a record of another partition, so the replay has already
looked up its ends and started reading when the transaction ends: no sleep, no timing.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable

import pytest
from confluent_kafka import Producer

from streams.runtime.changelog import replay_changelog
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


def test_a_transaction_that_never_ends_stops_the_replay_at_the_stable_offset(
    kafka_conf: KafkaConf, new_topic: Callable[..., str], caplog: pytest.LogCaptureFixture
) -> None:
    """A hanging transaction (here: one kept open by a live writer, its timeout far
    away) would keep the stage unready for ever; past ``open_txn_wait_s`` the replay
    ends at the last stable offset with an error line naming the partition."""
    topic = new_topic("changelog", partitions=2)
    writer = _a_committed_and_c_open(kafka_conf, topic)
    seen: list[bytes] = []
    try:
        with caplog.at_level(logging.ERROR, logger="streams.runtime.changelog"):
            replay_changelog(
                kafka_conf, topic, [0, 1], lambda _p, _o, k, _v: seen.append(k), open_txn_wait_s=1
            )
    finally:
        writer.abort_transaction(30)
    assert seen == [b"a"]
    (line,) = [r.getMessage() for r in caplog.records]
    assert f"replay of {topic}[1] ends at 0, not 1" in line
    assert "hanging transaction" in line

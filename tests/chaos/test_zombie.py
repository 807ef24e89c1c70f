"""A zombie's stale transaction is fenced: the guarantee SIGSTOP in the chaos run relies on.

In the chaos run a paused worker may or may not hold an open transaction when it
freezes (it prints ``zombie-fenced`` or ``zombie-idle``). This test makes the bad case
certain, with the stages' own client settings (``streams.runtime.clients``) on a real broker:

1. member A (instance ``a``) consumes a batch, opens a transaction and produces its
   outputs, then stops polling: past ``max.poll.interval.ms`` its consumer leaves the
   group, as a frozen worker's membership lapses;
2. member B (instance ``b``) gets the partition, processes the same input from the
   committed offset and commits;
3. A wakes up and tries to commit its batch with its old group generation.

A's commit must fail and leave nothing visible: read-committed, every input record is
in the output exactly once (B's copy).
"""

from __future__ import annotations

import pytest
from confluent_kafka import Consumer, KafkaException, Message, Producer
from confluent_kafka.admin import AdminClient

from streams.runtime.clients import StageIdentity, abort, stage_consumer, transactional_producer
from tests.integration.kafka_helpers import create_topics, unique
from tests.integration.test_profile_stage import _read_all
from tests.waiting import NotYet, eventually

pytestmark = pytest.mark.integration
RECORDS = 50


def ident(group: str, instance: str) -> StageIdentity:
    return StageIdentity(group, instance, session_timeout_ms=6000, transaction_timeout_ms=60_000)


def fetch(consumer: Consumer, want: int, what: str, timeout: float = 30) -> list[Message]:
    """``want`` records read by ``consumer`` (fails, saying ``what``, if they do not come)."""
    got: list[Message] = []

    def enough() -> bool | NotYet:
        got.extend(m for m in consumer.consume(want - len(got), timeout=1.0) if m.error() is None)
        return len(got) >= want or NotYet(f"{len(got)} of {want} records")

    eventually(enough, what=what, timeout=timeout, interval=0)
    return got


def members(admin: AdminClient, group: str) -> list[str]:
    """The instance ids of ``group``'s members, as the group coordinator sees them."""
    desc = admin.describe_consumer_groups([group], request_timeout=10)[group].result(15)
    return sorted(m.group_instance_id or m.member_id for m in desc.members)


def test_a_zombie_cannot_commit_after_its_partitions_moved(bootstrap: str) -> None:
    conf = {"bootstrap.servers": bootstrap}
    source, sink = create_topics(conf, [unique("zin"), unique("zout")], 1, {})
    producer = Producer(conf | {"enable.idempotence": True})
    for i in range(RECORDS):
        producer.produce(source, f"r{i}".encode(), b"k")
    assert producer.flush(30) == 0
    group = unique("zgrp")
    # Leaves the group by itself when not polled for 7 s (what a frozen worker does
    # to its membership, seen from the group): the test waits for that, not 7 s.
    a_consumer = stage_consumer(conf, ident(group, "a"), **{"max.poll.interval.ms": 7000})
    a_producer = transactional_producer(conf, ident(group, "a"))
    a_consumer.subscribe([source])
    batch = fetch(a_consumer, RECORDS, "A read the input")
    a_producer.begin_transaction()
    for m in batch:
        a_producer.produce(sink, b"A:" + (m.value() or b""))
    a_meta = a_consumer.consumer_group_metadata()
    a_producer.flush(10)  # A's outputs are written, inside its open transaction

    # A is frozen: no poll. Wait until the coordinator no longer counts it a member.
    admin = AdminClient(conf)
    assert members(admin, group) == [ident(group, "a").member]

    def a_left() -> bool | NotYet:
        now = members(admin, group)
        return not now or NotYet(f"members {now}")

    eventually(a_left, what="A's membership lapsed without a poll", timeout=60, interval=0.5)
    b_consumer = stage_consumer(conf, ident(group, "b"))
    b_producer = transactional_producer(conf, ident(group, "b"))
    b_consumer.subscribe([source])
    b_batch = fetch(b_consumer, RECORDS, "B got A's partition from the committed offset", 60)
    b_producer.begin_transaction()
    for m in b_batch:
        b_producer.produce(sink, b"B:" + (m.value() or b""))
    offsets = [*b_consumer.position(b_consumer.assignment())]
    b_producer.send_offsets_to_transaction(offsets, b_consumer.consumer_group_metadata(), 30)
    b_producer.commit_transaction(30)

    # A wakes up and tries to finish its stale batch.
    a_offsets = [*a_consumer.position(a_consumer.assignment())] or offsets
    with pytest.raises(KafkaException) as fenced:
        a_producer.send_offsets_to_transaction(a_offsets, a_meta, 30)
        a_producer.commit_transaction(30)
    abort(a_producer)
    print(f"zombie's commit refused: {fenced.value.args[0]}")

    out = [m.value() or b"" for m in _read_all(conf, sink)]
    assert sorted(out) == sorted(b"B:r%d" % i for i in range(RECORDS))
    for c in (a_consumer, b_consumer):
        c.close()

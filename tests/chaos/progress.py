"""Has every stage committed everything it can read? The chaos run's settle condition.

Output topics that stop growing for a while are not enough: a stage stalled inside a
transaction (a paused worker, a wait on the broker) also stops them, and a check that
started then would count its records as lost. So a run settles only when, for every
stage's consumer group, no committed record of its inputs lies at or after the offset
the group committed: a read_committed reader placed at each committed offset sees only
end-of-partition. Transaction markers occupy offsets, so offsets are never compared
with watermarks.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition

from streams import topics
from streams.settings import KafkaConf
from tests.integration.kafka_helpers import unique


def stage_inputs(platforms: Sequence[str], banks: Sequence[str]) -> dict[str, list[str]]:
    """The topics each stage reads (its consumer group is ``<app_id>-<stage>``)."""
    return {
        "ingress": [t(p) for p in platforms for t in (topics.ingest_loans, topics.ingest_activity)],
        "consents": [topics.subscriptions(b) for b in banks],
        "borrower": [topics.EXCHANGE_EVENTS, topics.CONSENTS, topics.REQUESTS],
    }


def behind(
    conf: KafkaConf,
    app_id: str,
    inputs: Mapping[str, Sequence[str]],
    partitions: int,
    timeout: float = 10.0,
) -> list[str]:
    """``"<stage> <topic>[p]"`` for each input partition holding a committed record its
    stage has not committed past (everything, when Kafka does not answer in time)."""
    where: dict[tuple[str, int], str] = {}
    starts: list[TopicPartition] = []
    for stage, names in inputs.items():
        tps = [TopicPartition(t, p) for t in names for p in range(partitions)]
        group = Consumer(conf | {"group.id": f"{app_id}-{stage}", "enable.auto.commit": False})
        try:  # an offset fetch only: it never joins the group
            committed = group.committed(tps, timeout=timeout)
        except KafkaException:
            return [f"{stage}: committed offsets unreadable"]
        finally:
            group.close()
        for tp in committed:
            where[(tp.topic, tp.partition)] = stage
            start = tp.offset if tp.offset >= 0 else OFFSET_BEGINNING
            starts.append(TopicPartition(tp.topic, tp.partition, start))
    return [f"{where[k]} {k[0]}[{k[1]}]" for k in sorted(_unread(conf, starts, timeout))]


def _unread(conf: KafkaConf, starts: list[TopicPartition], timeout: float) -> set[tuple[str, int]]:
    """The partitions of ``starts`` with a committed record at or after their offset
    (and those that did not answer within ``timeout``)."""
    reader = Consumer(
        conf
        | {
            "group.id": unique("behind"),
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
            "enable.partition.eof": True,
            "auto.offset.reset": "earliest",
        }
    )
    waiting = {(tp.topic, tp.partition) for tp in starts}
    unread: set[tuple[str, int]] = set()
    deadline = time.monotonic() + timeout
    try:
        reader.assign(starts)
        while waiting and time.monotonic() < deadline:
            msg = reader.poll(0.2)
            if msg is None:
                continue
            key = (msg.topic() or "", msg.partition() or 0)
            err = msg.error()
            if err is None:
                unread.add(key)
            elif err.code() != KafkaError._PARTITION_EOF:
                continue
            waiting.discard(key)
    finally:
        reader.close()
    return unread | waiting

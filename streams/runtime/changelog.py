"""Recovery: read a compacted changelog's partitions to their end.

A stage's state is the latest record per key of its changelog topic (one partition per
input partition it owns); on assignment the stage replays those partitions before it
reads any input (committed data only, so an aborted batch's state records never come
back): from the start, or, for a partition whose local store already holds the state up
to some offset (``streams.runtime.state``), from the record after it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

from streams.runtime.clients import fetch_batch
from streams.settings import KafkaConf

#: ``on_record(partition, offset, key, value)`` of a changelog replay.
OnRecord = Callable[[int, int, bytes, bytes | None], None]


def replay_changelog(
    conf: KafkaConf,
    topic: str,
    partitions: Iterable[int],
    on_record: OnRecord,
    batch: int = 10_000,
    group_prefix: str = "creditstream",
    start: Mapping[int, int] | None = None,
) -> int:
    """Read ``partitions`` of ``topic`` to their current end (committed data only), all
    at once, from ``start[p]`` (default: the start), calling ``on_record(partition,
    offset, key, value)`` for each; returns the count."""
    reader = Consumer(
        conf
        | {
            # Never joins or commits (assign only), but stays inside the exchange's prefix.
            "group.id": f"{group_prefix}-replay-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
            "enable.partition.eof": True,
            # Compaction and retention move a changelog's start past 0: begin at the
            # earliest offset that exists rather than jumping to the end.
            "auto.offset.reset": "earliest",
        }
    )
    count = 0
    try:
        ends: dict[int, int] = {}
        first: dict[int, int] = {}
        for p in set(partitions):
            low, high = reader.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            first[p] = OFFSET_BEGINNING if start is None or p not in start else start[p]
            if high > max(low, first[p]):
                ends[p] = high
        reader.assign([TopicPartition(topic, p, first[p]) for p in ends])
        while ends:
            for msg in fetch_batch(reader, batch, 1.0):
                err, part = msg.error(), msg.partition() or 0
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        ends.pop(part, None)
                    continue
                on_record(part, msg.offset() or 0, msg.key() or b"", msg.value())
                count += 1
                # Transaction markers occupy offsets too: stop at the end, not at EOF only.
                if (msg.offset() or 0) + 1 >= ends.get(part, 0):
                    ends.pop(part, None)
    finally:
        reader.close()
    return count

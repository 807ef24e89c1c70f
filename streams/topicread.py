"""Read one topic from its first retained record, for the CLI's reports.

Manual assignment under a throwaway group id (nothing is ever committed, so reading
never disturbs anyone); only committed data. Without ``follow`` it ends when every
partition reported its end: end-of-partition events, not watermarks, because
transaction markers occupy offsets on the exchange's topics.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    TopicPartition,
)

from streams.config import KafkaConf
from streams.errors import BrokerError, ConfigError


def read_from_start(
    conf: KafkaConf,
    topic: str,
    group_prefix: str,
    *,
    missing: str,
    follow: bool = False,
    idle_timeout: float = 30.0,
    partitions_out: list[int] | None = None,
) -> Iterator[Message]:
    """Every data record of ``topic``, partition by partition in offset order.

    ``group_prefix`` must lie inside the reader's ACL group prefix (a platform reads
    its rejects as ``<platform>.…``). ``missing`` completes the ConfigError raised when
    the topic does not exist. Without ``follow``, ``idle_timeout`` seconds without
    progress raise :class:`BrokerError` instead of hanging. ``partitions_out``, when
    given, receives every partition number (empty ones yield nothing).
    """
    consumer = Consumer(
        dict(conf)
        | {
            "group.id": f"{group_prefix}-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed",
            "enable.partition.eof": True,
        }
    )
    try:
        try:
            metadata = consumer.list_topics(topic, timeout=10)
        except KafkaException as exc:
            raise BrokerError(f"cannot reach Kafka to read {topic}: {exc}") from exc
        found = metadata.topics.get(topic)
        if found is None or found.error is not None or not found.partitions:
            raise ConfigError(f"topic {topic} does not exist: {missing}")
        partitions = set(found.partitions)
        if partitions_out is not None:
            partitions_out.extend(sorted(partitions))
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in sorted(partitions)])
        at_end: set[int] = set()
        last_progress = time.monotonic()
        while follow or at_end != partitions:
            msg = consumer.poll(0.5)
            if msg is None:
                if not follow and time.monotonic() - last_progress > idle_timeout:
                    raise BrokerError(f"no progress reading {topic} for {idle_timeout:.0f}s")
                continue
            last_progress = time.monotonic()
            err = msg.error()
            partition = msg.partition() or 0
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    at_end.add(partition)
                    continue
                raise BrokerError(f"reading {topic} failed: {err.str()}")
            at_end.discard(partition)
            yield msg
    finally:
        consumer.close()

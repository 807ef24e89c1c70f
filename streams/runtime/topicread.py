"""Read one topic from its first retained record, for the CLI's reports.

Manual assignment under a throwaway group id (nothing is ever committed, so reading
never disturbs anyone); only committed data. Without ``follow`` it ends when every
partition reported its end: end-of-partition events, not watermarks, because
transaction markers occupy offsets on the exchange's topics.

:func:`cluster_metadata` and :func:`topic_partitions` are the CLI's first contact with
Kafka: a broker that does not answer within the given time becomes one
:class:`BrokerError` naming the bootstrap servers and the client's own reason (e.g.
"Connection refused", "Failed to resolve"), a missing topic one :class:`ConfigError`.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Iterable, Iterator
from typing import Any

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient

from streams.errors import BrokerError, ConfigError
from streams.settings import CLIENT_LOGGER, KafkaConf

#: The longest a CLI waits for Kafka's first answer (a shorter ``--timeout`` wins).
CONNECT_TIMEOUT_S = 10.0


def connect_timeout(timeout: float) -> float:
    """How long to wait for the first metadata answer given a command's ``--timeout``."""
    return max(0.5, min(CONNECT_TIMEOUT_S, timeout))


def kafka_reason(exc: KafkaException) -> str:
    """The readable part of a KafkaException (not its ``KafkaError{code=…}`` repr)."""
    err = exc.args[0] if exc.args else None
    return err.str() if isinstance(err, KafkaError) else str(exc)


class _ClientErrors(logging.Handler):
    """Keeps the client's error lines (librdkafka's own reason for a failure)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        # "FAIL [rdkafka#consumer-1] [thrd:h:1/bootstrap]: h:1/bootstrap: Connect to ipv4#…
        # failed: Connection refused (after 0ms in state CONNECT)": keep the middle.
        text = record.getMessage().rsplit("]: ", 1)[-1]
        text = re.sub(r"^\S+/\w+: ", "", text)
        self.lines.append(re.sub(r"\s*\(after \d+ms in state \w+\)$", "", text))


def cluster_metadata(
    conf: KafkaConf, topic: str | None = None, *, timeout: float, purpose: str, client: Any = None
) -> Any:
    """Metadata of the cluster (or of ``topic`` only) from ``client`` (default: a new
    AdminClient). :class:`BrokerError` "cannot reach Kafka at … to ``purpose``: reason"
    when no broker answers within ``timeout`` seconds."""
    client = AdminClient(dict(conf)) if client is None else client
    logger, errors = logging.getLogger(CLIENT_LOGGER), _ClientErrors()
    logger.addHandler(errors)
    try:
        try:
            return client.list_topics(topic, timeout=timeout)
        except KafkaException as exc:
            client.poll(0)  # hands over the log lines the client queued meanwhile
            reason = errors.lines[-1] if errors.lines else kafka_reason(exc)
            where = conf.get("bootstrap.servers", "?")
            raise BrokerError(f"cannot reach Kafka at {where} to {purpose}: {reason}") from exc
    finally:
        logger.removeHandler(errors)


def topic_partitions(
    conf: KafkaConf,
    topic: str,
    *,
    timeout: float,
    missing: str,
    purpose: str | None = None,
    client: Any = None,
) -> list[int]:
    """The partitions of ``topic``; :class:`ConfigError` "topic … does not exist:
    ``missing``" when it is absent (or not visible to these credentials)."""
    purpose = purpose or f"read {topic}"
    metadata = cluster_metadata(conf, topic, timeout=timeout, purpose=purpose, client=client)
    found = metadata.topics.get(topic)
    error = None if found is None else found.error
    if error is not None and error.code() != KafkaError.UNKNOWN_TOPIC_OR_PART:
        raise ConfigError(f"topic {topic} is not available ({error.str()}): {missing}")
    if found is None or error is not None or not found.partitions:
        raise ConfigError(f"topic {topic} does not exist: {missing}")
    return sorted(found.partitions)


def read_from_start(
    conf: KafkaConf,
    topic: str,
    group_prefix: str,
    *,
    missing: str,
    follow: bool = False,
    idle_timeout: float = 30.0,
    partitions_out: list[int] | None = None,
    only: Iterable[int] | None = None,
) -> Iterator[Message]:
    """Every data record of ``topic`` (of its partitions in ``only``, when given),
    partition by partition in offset order.

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
        partitions = set(
            topic_partitions(
                conf,
                topic,
                timeout=connect_timeout(idle_timeout),
                missing=missing,
                client=consumer,
            )
        )
        if only is not None:
            partitions &= set(only)
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

"""Helpers for integration tests: free ports, unique topics, draining a topic."""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Callable, Iterable
from typing import TypeVar

from confluent_kafka import Consumer, Message
from confluent_kafka.admin import AdminClient, NewTopic

from streams.settings import KafkaConf

T = TypeVar("T")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def unique(prefix: str) -> str:
    """A name no other test uses (topics, groups, tenants)."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def create_topics(
    conf: KafkaConf, names: Iterable[str], partitions: int = 1, config: dict[str, str] | None = None
) -> list[str]:
    """Create topics and wait until the broker confirms each."""
    admin = AdminClient(conf)
    names = list(names)
    futures = admin.create_topics(
        [
            NewTopic(n, num_partitions=partitions, replication_factor=1, config=config or {})
            for n in names
        ]
    )
    for future in futures.values():
        future.result(timeout=30)
    return names


def consume_all(
    conf: KafkaConf, topic: str, expected: int, timeout: float = 60.0, group: str | None = None
) -> list[Message]:
    """Read ``topic`` from the beginning until ``expected`` records arrive or time runs out.

    Reads a little past ``expected`` (one empty poll) so extra records are noticed too.
    """
    consumer = Consumer(
        conf
        | {
            "group.id": group or unique("it"),
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
        }
    )
    consumer.subscribe([topic])
    out: list[Message] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            msgs = consumer.consume(num_messages=1000, timeout=0.5)
            for msg in msgs:
                if msg.error() is None:
                    out.append(msg)
            if len(out) >= expected and not msgs:
                break
    finally:
        consumer.close()
    return out


def eventually(what: str, check: Callable[[], T | None], timeout: float = 90.0) -> T:
    """Poll ``check`` until it returns something truthy (that value), or fail with ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:.0f} s: {what}")
        time.sleep(0.2)

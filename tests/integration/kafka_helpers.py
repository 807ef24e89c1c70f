"""Helpers for integration tests: free ports, unique topics, draining a topic."""

from __future__ import annotations

import random
import socket
import time
import uuid
from collections.abc import Iterable

from confluent_kafka import Consumer, Message
from confluent_kafka.admin import AdminClient, NewTopic

from streams.settings import KafkaConf

#: Ports below the kernel's ephemeral range (``ip_local_port_range``): an outgoing
#: connection, which takes its local port from that range, cannot take one of these
#: between ``free_port()`` and the bind.
_PORTS = range(20000, 32768)
_HANDED_OUT: set[int] = set()


def _ephemeral_low() -> int:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now (each one once per run).

    Check-then-use: the port can still be taken before whoever it is for binds it (by
    another test run choosing the same number). It is picked at random below the
    ephemeral range, so this process's own outgoing connections cannot take it, and
    the starters that bind it retry with fresh ports on "address in use"
    (``conftest.start_broker``, ``workers.running_worker``).
    """
    low = min(_PORTS.stop, _ephemeral_low())
    if low - _PORTS.start < 1000:  # an unusual kernel setting: let the kernel choose
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            return int(sock.getsockname()[1])
    for _ in range(200):
        port = random.randrange(_PORTS.start, low)
        if port in _HANDED_OUT:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _HANDED_OUT.add(port)
        return port
    raise RuntimeError(f"no free port in {_PORTS.start}..{low - 1} after 200 tries")


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

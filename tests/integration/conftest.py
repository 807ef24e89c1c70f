"""A real Apache Kafka broker for the integration tests.

The session fixture starts a single-node KRaft broker through ``deploy/local`` (the
same code as ``creditstream broker start``) on free ports, or uses the broker named by
``CREDITSTREAM_BOOTSTRAP`` when set. Every test gets its own uniquely named topics.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from streams.errors import BrokerError
from streams.localkafka import BrokerInfo, BrokerSpec, start, stop
from streams.settings import KafkaConf, Settings
from tests.integration.kafka_helpers import create_topics, free_port, unique

pytestmark = pytest.mark.integration

#: Every broker the tests started, reported at the end of the run (which Kafka it was).
STARTED: list[str] = []


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if STARTED:
        terminalreporter.section("real Kafka brokers used")
        versions = sorted({line.split(" at ")[0] for line in STARTED})
        terminalreporter.write_line(f"{len(STARTED)} broker(s) started: {', '.join(versions)}")


def test_root() -> Path:
    """Where test brokers keep data (``./run test`` cleans it up whatever happens)."""
    root = os.environ.get("CREDITSTREAM_TEST_ROOT") or tempfile.mkdtemp(prefix="cs-test-")
    path = Path(root)
    path.mkdir(parents=True, exist_ok=True)
    return path


def broker_spec(name: str, **kw: object) -> BrokerSpec:
    """A spec for a private broker on free ports under the test root."""
    port = free_port()
    return BrokerSpec(
        data_dir=Path(tempfile.mkdtemp(prefix=f"{name}-", dir=test_root())),
        cache_dir=Settings().cache_dir,
        version=Settings().kafka_version,
        port=port,
        controller_port=free_port(),
        **kw,  # type: ignore[arg-type]
    )


def start_broker(name: str, attempts: int = 3, **kw: object) -> tuple[BrokerSpec, BrokerInfo]:
    """Start a broker of ``broker_spec(name, **kw)``; if a port it was given is taken
    meanwhile (``free_port`` is check-then-use), start again on fresh ports."""
    for attempt in range(1, attempts + 1):
        spec = broker_spec(name, **kw)
        try:
            info = start(spec)
        except BrokerError as exc:
            if "in use" not in str(exc) or attempt == attempts:
                raise
            print(f"broker {name}: a port was taken before Kafka bound it, retrying: {exc}")
            stop(spec)  # nothing should run, but never leave a half-started broker behind
            continue
        STARTED.append(f"Apache Kafka {info.version} (KRaft, {info.mode}) at {info.bootstrap}")
        return spec, info
    raise AssertionError("unreachable")


@pytest.fixture(scope="session")
def bootstrap() -> Iterator[str]:
    """Bootstrap address of the session's broker."""
    given = os.environ.get("CREDITSTREAM_BOOTSTRAP")
    if given:
        yield given
        return
    spec, info = start_broker("session")
    try:
        yield info.bootstrap
    finally:
        stop(spec)


@contextmanager
def own_broker(name: str) -> Iterator[str]:
    """A broker of one's own on free ports (stopped afterwards); yields its bootstrap."""
    spec, info = start_broker(name)
    try:
        yield info.bootstrap
    finally:
        stop(spec)


@pytest.fixture(scope="module")
def private_bootstrap() -> Iterator[str]:
    """A broker of the test module's own, for tests whose workers use the fixed
    exchange topic names (so they cannot share a broker with other such modules)."""
    with own_broker("private") as bootstrap:
        yield bootstrap


@pytest.fixture(scope="session")
def kafka_conf(bootstrap: str) -> KafkaConf:
    return {"bootstrap.servers": bootstrap}


@pytest.fixture
def new_topic(kafka_conf: KafkaConf) -> Callable[..., str]:
    """Create a uniquely named topic: ``new_topic("orders", partitions=3)``."""

    def make(prefix: str = "t", partitions: int = 1, **config: str) -> str:
        (name,) = create_topics(kafka_conf, [unique(prefix)], partitions, config)
        return name

    return make

"""``deploy/local`` manages a real broker: start, status, stop, restart keeps data."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest
from confluent_kafka import Producer

from streams.errors import BrokerError
from streams.localkafka import kill, start, status, stop
from streams.localkafka.process import client_config
from streams.settings import KAFKA_VERSION
from tests.integration.conftest import broker_spec
from tests.integration.kafka_helpers import consume_all, create_topics


def test_restart_keeps_data_and_reports_status() -> None:
    spec = broker_spec("lifecycle")
    try:
        info = start(spec)
        assert info.version == KAFKA_VERSION
        assert status(spec) == info.__class__(**(info.__dict__ | {"started_in_s": 0.0}))
        # The broker itself says which Apache Kafka it is.
        assert f"Kafka version: {KAFKA_VERSION}" in (spec.data_dir / "server.log").read_text()
        conf = client_config(spec)
        (topic,) = create_topics(conf, ["durable"], partitions=2)
        producer = Producer(conf | {"enable.idempotence": True, "acks": "all"})
        for i in range(50):
            producer.produce(topic, key=str(i).encode(), value=f"v{i}".encode())
        assert producer.flush(30) == 0

        assert stop(spec) is True
        assert status(spec) is None
        assert stop(spec) is False  # stopping twice is harmless

        start(spec)
        got = consume_all(conf, topic, expected=50)
        assert sorted((m.value() or b"").decode() for m in got) == sorted(
            f"v{i}" for i in range(50)
        )

        # A crash (SIGKILL) loses nothing acknowledged with acks=all either.
        assert kill(spec) is True
        start(spec)
        assert len(consume_all(conf, topic, expected=50)) == 50
    finally:
        stop(spec)


def test_port_in_use_is_a_clear_error() -> None:
    spec = broker_spec("busy")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", spec.port))
        sock.listen()
        with pytest.raises(BrokerError, match=f"port {spec.port} on 127.0.0.1 is in use"):
            start(spec)
    assert status(spec) is None


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streams.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_cli_errors_are_one_line_not_tracebacks() -> None:
    spec = broker_spec("cli")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", spec.port))
        sock.listen()
        busy = _cli("broker", "start", "--port", str(spec.port), "--data-dir", str(spec.data_dir))
    assert busy.returncode == 1
    assert busy.stderr.strip() == (
        f"creditstream: error: port {spec.port} on 127.0.0.1 is in use; choose another with --port"
    )
    bad = _cli("broker", "start", "--port", "http")
    assert bad.returncode == 2
    assert "Traceback" not in bad.stderr
    assert (
        bad.stderr.strip().splitlines()[-1].endswith("argument --port: not a port number: 'http'")
    )
    none = _cli("broker", "status", "--data-dir", str(spec.data_dir))
    assert none.returncode == 3
    assert none.stderr.strip() == f"no broker running from {spec.data_dir}"


def test_cli_start_status_stop() -> None:
    spec = broker_spec("clirun")
    where = ["--port", str(spec.port), "--controller-port", str(spec.ctrl_port)]
    where += ["--data-dir", str(spec.data_dir)]
    try:
        started = _cli("broker", "start", *where)
        assert started.returncode == 0, started.stderr
        assert f"kafka {KAFKA_VERSION} running in" in started.stdout
        assert f"bootstrap 127.0.0.1:{spec.port}" in started.stdout
        again = _cli("broker", "status", *where)
        assert again.returncode == 0
        assert f"bootstrap 127.0.0.1:{spec.port}" in again.stdout
        # Kafka's transactions command runs from the installed jars (a hanging
        # transaction itself only comes from a crash: the chaos run meets and aborts them).
        hanging = _cli("broker", "hanging", *where)
        assert (hanging.returncode, hanging.stdout.strip()) == (0, "no hanging transaction")
        busy = _cli("broker", "wipe", *where)
        assert busy.returncode == 1
        assert "is running: stop it first" in busy.stderr
        assert (spec.data_dir / "logs" / "meta.properties").is_file()
        stopped = _cli("broker", "stop", *where)
        assert stopped.stdout.strip() == "broker stopped"
        assert _cli("broker", "status", *where).returncode == 3
        gone = _cli("broker", "abort-hanging", *where)
        assert (gone.returncode, gone.stderr.strip()) == (
            3,
            f"no broker running from {spec.data_dir}",
        )
        wiped = _cli("broker", "wipe", *where)
        assert (wiped.returncode, wiped.stdout.strip()) == (0, f"wiped {spec.data_dir}")
        assert not spec.data_dir.exists()
    finally:
        stop(spec)

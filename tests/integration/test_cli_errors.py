"""Wrong usages of ``creditstream`` that need a real broker end in one clear line.

* ``feed`` on a feed holding a Confluent-framed record while no Schema Registry is
  configured stops with the codec's own message and exit 1 (it used to print
  ``UNKNOWN_SCHEMA`` per record and exit 0), and leaves the record unconfirmed;
* ``billing --bank`` tells a name that is no bank from a bank without deliveries.

The CLI runs as a subprocess against the session's broker.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from confluent_kafka import Producer

from streams import topics
from streams.runtime.provision import ensure_bank
from streams.settings import KafkaConf
from tests.integration.kafka_helpers import unique

pytestmark = pytest.mark.integration

REGISTRY_MESSAGE = "Confluent-framed record but no Schema Registry configured"


@dataclass(frozen=True)
class Run:
    code: int
    stdout: str
    stderr: str


def cli(bootstrap: str, *args: str) -> Run:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREDITSTREAM_")}
    done = subprocess.run(
        [sys.executable, "-m", "streams.cli", "--bootstrap", bootstrap, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return Run(done.returncode, done.stdout, done.stderr)


def assert_one_error_line(result: Run, needle: str) -> None:
    assert "Traceback" not in result.stderr and "%3|" not in result.stderr, result.stderr
    assert result.code == 1, result
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("creditstream: error: "), result.stderr
    assert needle in result.stderr, result.stderr


def test_feed_of_a_confluent_framed_record_without_registry_stops_in_one_line(
    bootstrap: str, kafka_conf: KafkaConf, tmp_path: Path
) -> None:
    bank = unique("cf")[:12]
    ensure_bank(kafka_conf, bank, 1)
    producer = Producer(dict(kafka_conf))
    for i in range(3):  # magic byte 0, a schema id, then some Avro body
        producer.produce(topics.feed(bank), b"\x00\x00\x00\x00\x07" + bytes([i]) * 8, b"c-1")
    assert producer.flush(30) == 0

    peek = cli(bootstrap, "feed", "--bank", bank, "--from-beginning", "--timeout", "10")
    assert_one_error_line(peek, REGISTRY_MESSAGE)
    assert "UNKNOWN_SCHEMA" not in peek.stdout + peek.stderr

    state = str(tmp_path / "ledger.sqlite")
    for _ in range(2):  # the group's offset did not move past the record: it stops again
        grouped = cli(bootstrap, "feed", "--bank", bank, "--state", state, "--timeout", "10")
        assert_one_error_line(grouped, REGISTRY_MESSAGE)


def test_billing_tells_an_unknown_bank_from_one_without_deliveries(
    bootstrap: str, kafka_conf: KafkaConf, new_topic: Callable[..., str]
) -> None:
    audit = new_topic("audit", partitions=2)  # an empty audit trail of its own
    known = unique("bill")[:12]
    ensure_bank(kafka_conf, known, 1)
    base = ["billing", "--month", "2026-08", "--topic", audit, "--timeout", "10"]

    unknown = cli(bootstrap, *base, "--bank", "nosuchbank")
    assert_one_error_line(unknown, "no bank 'nosuchbank' is provisioned")
    assert unknown.stdout == ""
    assert_one_error_line(cli(bootstrap, *base, "--bank", "nosuchbank", "--json"), "nosuchbank")

    empty = cli(bootstrap, *base, "--bank", known)
    assert (empty.code, empty.stderr) == (0, "")
    assert empty.stdout.strip() == f"No deliveries to bank {known} in 2026-08."

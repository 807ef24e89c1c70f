"""Kafka's transactions command runs from the project's own jars against a real broker.

A hanging transaction cannot be made on purpose with these clients (it takes a request
the broker applies after the coordinator ended its transaction: the chaos run meets
them after broker SIGKILLs, and aborts them there); this checks the command, its class
path and its output as the project reads it: an open transaction of a live producer is
not hanging, and none is reported.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from confluent_kafka import Producer

from streams.localkafka.install import install
from streams.localkafka.transactions import Hanging, abort_hanging, find_hanging
from streams.settings import KafkaConf, Settings

pytestmark = pytest.mark.integration


def _open_transaction(conf: KafkaConf, topic: str) -> tuple[Path, str, Producer]:
    """Kafka's jars, and a producer with one record of ``topic`` in an open transaction."""
    settings = Settings()
    libs = install(settings.cache_dir, settings.kafka_version)
    producer = Producer(conf | {"transactional.id": f"hang-test-{uuid.uuid4().hex[:8]}"})
    producer.init_transactions(30)
    producer.begin_transaction()
    producer.produce(topic, b"v", b"k")
    return libs, topic, producer


def test_an_open_transaction_of_a_live_producer_is_not_hanging(
    kafka_conf: KafkaConf, new_topic: Callable[..., str]
) -> None:
    libs, topic, producer = _open_transaction(kafka_conf, new_topic("txn"))
    producer.flush(30)
    try:
        found = find_hanging(libs, kafka_conf["bootstrap.servers"], minutes=0)
    finally:
        producer.abort_transaction(30)
    assert [h for h in found if h.topic == topic] == []


def test_aborting_a_transaction_that_already_ended_says_so_and_does_not_fail(
    kafka_conf: KafkaConf, new_topic: Callable[..., str]
) -> None:
    """``find-hanging`` can list a transaction whose markers are still on their way; by
    the time ``abort`` runs it has ended (a chaos run met it): not an error."""
    libs, topic, producer = _open_transaction(kafka_conf, new_topic("txn-ended"))
    producer.commit_transaction(30)
    ended = Hanging(topic, 0, producer_id=0, producer_epoch=0, start_offset=0)
    assert abort_hanging(libs, kafka_conf["bootstrap.servers"], ended) is False

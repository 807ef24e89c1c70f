"""The broker is real Kafka: idempotent, acks=all produce and consume through it."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

from confluent_kafka import KafkaError, Message, Producer

from streams.settings import KafkaConf
from tests.integration.kafka_helpers import consume_all


def test_idempotent_produce_consume_roundtrip(
    kafka_conf: KafkaConf, new_topic: Callable[..., str]
) -> None:
    topic = new_topic("roundtrip", partitions=3)
    delivered: list[Message] = []
    errors: list[KafkaError] = []

    def on_delivery(err: KafkaError | None, msg: Message) -> None:
        (errors.append(err) if err else delivered.append(msg))

    producer = Producer(kafka_conf | {"enable.idempotence": True, "acks": "all", "linger.ms": 5})
    sent = {f"user-{i % 17}": [] for i in range(17)}  # type: dict[str, list[bytes]]
    for i in range(600):
        key = f"user-{i % 17}"
        value = f"event-{i}".encode()
        sent[key].append(value)
        producer.produce(topic, key=key.encode(), value=value, on_delivery=on_delivery)
    assert producer.flush(30) == 0
    assert errors == []
    assert len(delivered) == 600

    got = consume_all(kafka_conf, topic, expected=600)
    assert len(got) == 600
    per_key: dict[str, list[bytes]] = defaultdict(list)
    partitions_of: dict[str, set[int]] = defaultdict(set)
    for msg in got:
        key = (msg.key() or b"").decode()
        per_key[key].append(msg.value() or b"")
        partitions_of[key].add(msg.partition())
    # Same key, same partition, in the order produced: no loss, no duplicates.
    assert per_key == sent
    assert all(len(p) == 1 for p in partitions_of.values())
    assert len({p for ps in partitions_of.values() for p in ps}) > 1

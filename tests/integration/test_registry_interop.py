"""The Confluent wire format against a real Schema Registry and confluent-kafka's own serdes.

The registry is Apicurio Registry (Confluent-compatible API, compatibility level BACKWARD;
``tests/integration/registry.py``). Shown here: the project's Confluent codec registers
every shipped record and round-trips every example through it; a platform publishing
with confluent-kafka's ``AvroSerializer`` is ingested by a real worker configured with
``CREDITSTREAM_SCHEMA_REGISTRY_URL``, and a bank reading its feed with confluent-kafka's
``AvroDeserializer`` gets what the worker wrote; an incompatible schema change is refused.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import DeserializingConsumer, Producer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from streams import topics
from streams.errors import ConfigError
from streams.runtime.provision import ensure_bank, ensure_platform
from streams.runtime.registry import codec_for, confluent_schema
from streams.sdk.subscriber import BankSubscriber
from streams.settings import KafkaConf, Settings
from streams.wire.avrojson import iter_examples, json_to_datum
from streams.wire.codec import ConfluentCodec
from streams.wire.schemas import (
    EXCHANGE_EVENT,
    FEED_RECORD,
    LOAN_EVENT,
    SCHEMA_DIR,
    load_schemas,
)
from tests.integration.kafka_helpers import consume_all, unique
from tests.integration.registry import RunningRegistry, schema_registry_fixture  # noqa: F401
from tests.integration.workers import running_worker, worker_env
from tests.waiting import NotYet, eventually

pytestmark = pytest.mark.integration

SCHEMAS = load_schemas()
VALID = [e for e in iter_examples() if e.valid]


def example(name: str, file: str) -> dict[str, Any]:
    """The datum of ``schemas/examples/<short name>/<file>``."""
    (found,) = [e for e in VALID if e.schema_name == name and e.path.name == file]
    return json_to_datum(name, found.load())


def value_context(topic: str) -> SerializationContext:
    return SerializationContext(topic, MessageField.VALUE)


def test_codec_registers_every_record_and_round_trips_every_example(
    schema_registry: RunningRegistry,
) -> None:
    writer = codec_for(schema_registry.url)
    encoded = [(e, json_to_datum(e.schema_name, e.load())) for e in VALID]
    frames = [(e.schema_name, d, writer.encode(e.schema_name, d)) for e, d in encoded]

    status, subjects = schema_registry.request("GET", "/subjects")
    assert status == 200
    assert {name for name, _, _ in frames} <= set(subjects)  # one subject per record name
    for name, _, data in frames:
        status, latest = schema_registry.request("GET", f"/subjects/{name}/versions/latest")
        assert status == 200 and data[:5] == b"\x00" + int(latest["id"]).to_bytes(4, "big")
    reader = codec_for(schema_registry.url)  # a cold cache: every writer schema is fetched
    for name, datum, data in frames:
        assert reader.decode(data) == (name, datum)


def test_incompatible_change_is_refused_under_backward(
    schema_registry: RunningRegistry, tmp_path: Path
) -> None:
    def schemas_with_new_loan_field(field: dict[str, Any]) -> Path:
        folder = tmp_path / unique("schemas")
        shutil.copytree(SCHEMA_DIR, folder)
        path = folder / f"{LOAN_EVENT}.avsc"
        loan = json.loads(path.read_text())
        loan["fields"].append(field)
        path.write_text(json.dumps(loan))
        return folder

    subject = unique("compat")

    def codec(directory: Path) -> ConfluentCodec:
        client = SchemaRegistryClient({"url": schema_registry.url})
        schemas = load_schemas(directory)
        return ConfluentCodec(
            client, schemas, schema_factory=confluent_schema, subject_for=lambda _: subject
        )

    loan = example(LOAN_EVENT, "disbursement_cash_loan.json")
    codec(SCHEMA_DIR).encode(LOAN_EVENT, loan)  # version 1: the shipped schema

    required = schemas_with_new_loan_field({"name": "branch", "type": "string"})
    # A refusal no retry mends: a configuration error naming the subject, not an outage.
    with pytest.raises(ConfigError, match=rf"refuses {subject}: .*409"):
        codec(required).encode(LOAN_EVENT, loan | {"branch": "north"})
    assert schema_registry.request("GET", f"/subjects/{subject}/versions") == (200, [1])

    optional = {"name": "branch", "type": ["null", "string"], "default": None}
    codec(schemas_with_new_loan_field(optional)).encode(LOAN_EVENT, loan | {"branch": None})
    assert schema_registry.request("GET", f"/subjects/{subject}/versions") == (200, [1, 2])


def test_a_bank_reads_feed_records_with_confluents_avro_deserializer(
    schema_registry: RunningRegistry,
    kafka_conf: KafkaConf,
    new_topic: Callable[..., str],
) -> None:
    topic = new_topic("feed")
    codec = codec_for(schema_registry.url)
    feed = [e for e in VALID if e.schema_name == FEED_RECORD]
    assert len(feed) >= 5  # every kind of feed record the examples show
    data = [json_to_datum(FEED_RECORD, e.load()) for e in feed]
    producer = Producer(kafka_conf | {"acks": "all"})
    for datum in data:
        producer.produce(topic, codec.encode(FEED_RECORD, datum), datum["customer_ref"].encode())
    assert producer.flush(30) == 0

    client = SchemaRegistryClient({"url": schema_registry.url})
    deserializer = AvroDeserializer(client)
    got = [
        deserializer(m.value(), value_context(topic))
        for m in consume_all(kafka_conf, topic, expected=len(data), timeout=30)
    ]
    assert got == data


@pytest.mark.slow
def test_worker_takes_confluent_serialized_loans_and_its_feed_reads_with_confluents_deserializer(
    schema_registry: RunningRegistry, private_bootstrap: str
) -> None:
    conf: KafkaConf = {"bootstrap.servers": private_bootstrap}
    platform, bank = "cfplatform", "cfbank"
    ensure_platform(conf, platform, 2)
    ensure_bank(conf, bank, 2)
    client = SchemaRegistryClient({"url": schema_registry.url})

    # The platform: confluent-kafka's own serializer, its default subject <topic>-value.
    national_id = "850101-1234"
    loan = example(LOAN_EVENT, "disbursement_cash_loan.json") | {
        "event_id": unique("cf"),
        "occurred_at": datetime.now(UTC) - timedelta(hours=1),
        "national_id": national_id,
    }
    loans = topics.ingest_loans(platform)
    serializer = AvroSerializer(client, json.dumps(SCHEMAS.info(LOAN_EVENT).resolved))
    producer = Producer(conf | {"enable.idempotence": True, "acks": "all"})
    producer.produce(loans, serializer(loan, value_context(loans)), loan["user_key"].encode())
    assert producer.flush(30) == 0
    status, versions = schema_registry.request("GET", f"/subjects/{loans}-value/versions")
    assert (status, versions) == (200, [1])

    env = worker_env(private_bootstrap, CREDITSTREAM_SCHEMA_REGISTRY_URL=schema_registry.url)
    with running_worker(env) as worker:
        (event,) = consume_all(conf, topics.EXCHANGE_EVENTS, expected=1, timeout=60)
        raw = event.value() or b""
        assert raw[:1] == b"\x00"  # the worker writes Confluent framing when configured
        name, datum = codec_for(schema_registry.url).decode(raw)
        assert name == EXCHANGE_EVENT
        assert (datum["event_id"], datum["platform"]) == (loan["event_id"], platform)
        assert datum["loan"]["amount"] == loan["amount"]

        # The bank: subscribes through the SDK, then reads its feed with confluent-kafka's
        # own DeserializingConsumer + AvroDeserializer (writer schemas fetched by id).
        settings = Settings(
            bootstrap=private_bootstrap, partitions=2, schema_registry_url=schema_registry.url
        )
        with BankSubscriber(bank, settings) as sub:
            expires = datetime.now(UTC) + timedelta(days=30)
            sub.subscribe(
                national_id, "cf-customer-1", "cf-consent-1", "CREDIT_APPLICATION", expires
            )
        # The answer is an ACK carrying the current profile, or NO_DATA_YET and then a
        # PROFILE_UPDATE once the loan is folded: either way a profile comes.
        records = read_feed_until_profile(conf, bank, AvroDeserializer(client))
        assert worker.alive(), worker.log()

    assert all(r["customer_ref"] == "cf-customer-1" for r in records)
    assert {r["kind"] for r in records} <= {"SUBSCRIPTION_ACK", "NO_DATA_YET", "PROFILE_UPDATE"}
    profile = records[-1]
    assert profile["kind"] in {"SUBSCRIPTION_ACK", "PROFILE_UPDATE"} and profile["profile"]
    # The profile is a BorrowerProfile record: amounts as Decimal, times as datetimes.
    assert profile["profile"]["profile_version"] == profile["profile_version"] >= 1
    assert all(isinstance(v, Decimal) for v in profile["profile"]["outstanding_principal"].values())
    assert profile["disputed"] == []
    assert isinstance(profile["produced_at"], datetime)  # timestamp-millis, as Confluent reads it


def read_feed_until_profile(
    conf: KafkaConf, bank: str, deserializer: AvroDeserializer
) -> list[dict[str, Any]]:
    """Every record on the bank's feed, read as a bank using confluent-kafka would, up to
    the first that carries a profile (``profile_version`` >= 1; 60 s at most)."""
    consumer = DeserializingConsumer(
        conf
        | {
            "group.id": unique(f"{bank}.feed"),
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed",
            "value.deserializer": deserializer,
        }
    )
    consumer.subscribe([topics.feed(bank)])
    records: list[dict[str, Any]] = []

    def profile_arrived() -> bool | NotYet:
        msg = consumer.poll(0.5)
        if msg is not None and msg.error() is None:
            records.append(msg.value())
        seen = [(r["kind"], r["profile_version"]) for r in records]
        return any(v >= 1 for _, v in seen) or NotYet(f"feed so far: {seen}")

    try:
        eventually(profile_arrived, what="a profile on the feed", timeout=60, interval=0)
    finally:
        consumer.close()
    return records

"""A real ``creditstream worker`` process ingests platform topics end to end."""

from __future__ import annotations

import re
import shutil
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from streams import topics
from streams.domain.privacy import Pseudonymizer
from streams.domain.validation import from_avro
from streams.runtime.provision import ensure_platform
from streams.runtime.registry import codec_for
from streams.wire.rejects import from_headers
from streams.wire.schemas import EXCHANGE_EVENT, LOAN_EVENT
from tests.integration.kafka_helpers import consume_all, create_topics
from tests.integration.workers import TEST_HMAC_KEY, running_worker, worker_env
from tests.waiting import eventually

CODEC = codec_for(None)
REPLAYED = re.compile(r"ingress assigned \d+ partitions: (\d+) dedup records replayed")


def loan(event_id: str, national_id: str, **over: Any) -> dict[str, Any]:
    datum: dict[str, Any] = {
        "event_id": event_id,
        "occurred_at": datetime.now(UTC) - timedelta(hours=1),
        "user_key": "u-1",
        "national_id": national_id,
        "loan_id": "L-1",
        "lender": "Lender Oy",
        "product": "CASH_LOAN",
        "type": "DISBURSEMENT",
        "amount": Decimal("1000.00"),
        "currency": "EUR",
        "principal_outstanding": Decimal("1000.00"),
        "days_past_due": 0,
        "due_date": None,
        "term_months": 12,
        "corrects_event_id": None,
    }
    datum.update(over)
    return datum


def test_worker_forwards_good_records_and_rejects_bad_ones(private_bootstrap: str) -> None:
    conf = {"bootstrap.servers": private_bootstrap}
    ensure_platform(conf, "acme", 2)
    good = [loan(f"e{i}", f"AB{100000 + i}") for i in range(20)]
    good_bytes = [CODEC.encode(LOAN_EVENT, d) for d in good]
    junk = b"definitely not avro"
    negative = CODEC.encode(LOAN_EVENT, loan("neg", "AB999999", amount=Decimal("-5.00")))
    producer = Producer(conf | {"enable.idempotence": True, "acks": "all"})
    for raw in good_bytes:
        producer.produce(topics.ingest_loans("acme"), raw, b"u-1")
    producer.produce(topics.ingest_loans("acme"), junk, b"u-1")
    producer.produce(topics.ingest_loans("acme"), negative, b"u-1")
    producer.produce(topics.ingest_loans("acme"), good_bytes[3], b"u-1")  # a re-send
    assert producer.flush(30) == 0

    with running_worker(worker_env(private_bootstrap)) as worker:
        events = consume_all(conf, topics.EXCHANGE_EVENTS, expected=20, timeout=90)
        rejects = consume_all(conf, topics.rejected("acme"), expected=3, timeout=30)
        assert worker.alive(), worker.log()

    decoded = [from_avro(CODEC.decode(m.value() or b"", {EXCHANGE_EVENT})[1]) for m in events]
    assert sorted(e.event_id for e in decoded) == sorted(d["event_id"] for d in good)
    hmac = Pseudonymizer({1: TEST_HMAC_KEY}, 1)
    for event, msg in zip(decoded, events, strict=True):
        assert event.platform == "acme"
        assert msg.key() == event.borrower_id.encode()
    expected_ids = {hmac.borrower_id(d["national_id"]) for d in good}
    assert {e.borrower_id for e in decoded} == expected_ids
    # No raw national ID anywhere on exchange.events.
    blob = b"".join((m.value() or b"") + (m.key() or b"") for m in events)
    assert not any(d["national_id"].encode() in blob for d in good)

    by_reason = {from_headers(m.headers(), m.value()).reason: m for m in rejects}
    assert set(by_reason) == {"NOT_AVRO", "NEGATIVE_AMOUNT", "DUPLICATE_EVENT"}
    assert by_reason["NOT_AVRO"].value() == junk
    assert by_reason["NEGATIVE_AMOUNT"].value() == negative
    assert by_reason["DUPLICATE_EVENT"].value() == good_bytes[3]
    dup = from_headers(by_reason["DUPLICATE_EVENT"].headers(), None)
    assert dup.source_topic == topics.ingest_loans("acme")
    assert dup.source_offset == 22
    assert "AB" not in dup.message


@pytest.mark.parametrize("state", ["kept", "wiped"])
def test_restarted_worker_neither_loses_nor_repeats(private_bootstrap: str, state: str) -> None:
    """Offsets and dedup memory survive a worker restart (new process, same app id):
    with its state dir kept, the restarted worker reads no dedup record again (its
    stores hold them all); with the state dir wiped (same instance id), it replays
    them all from the changelog: a normal start, only slower."""
    conf = {"bootstrap.servers": private_bootstrap}
    platform = f"p{uuid.uuid4().hex[:6]}"
    ensure_platform(conf, platform, 2)
    env = worker_env(private_bootstrap, CREDITSTREAM_INSTANCE_ID=f"i{uuid.uuid4().hex[:8]}")
    producer = Producer(conf | {"enable.idempotence": True, "acks": "all"})
    first = [CODEC.encode(LOAN_EVENT, loan(f"a{i}", f"CD{200000 + i}")) for i in range(10)]
    for raw in first:
        producer.produce(topics.ingest_loans(platform), raw, b"u-2")
    assert producer.flush(30) == 0

    def ours(expected: int) -> list[str]:
        msgs = consume_all(conf, topics.EXCHANGE_EVENTS, expected=expected, timeout=60)
        found = [from_avro(CODEC.decode(m.value() or b"")[1]) for m in msgs]
        return sorted(e.event_id for e in found if e.platform == platform)

    with running_worker(env):
        eventually(lambda: len(ours(10)) >= 10, what="the first 10 events forwarded")
    # While it is down, the platform re-sends everything plus five new events.
    for raw in first:
        producer.produce(topics.ingest_loans(platform), raw, b"u-2")
    for i in range(5):
        producer.produce(
            topics.ingest_loans(platform),
            CODEC.encode(LOAN_EVENT, loan(f"b{i}", "EF300000")),
            b"u-2",
        )
    assert producer.flush(30) == 0
    if state == "wiped":
        shutil.rmtree(env["CREDITSTREAM_STATE_DIR"])
    with running_worker(env) as worker:
        rejects = consume_all(conf, topics.rejected(platform), expected=10, timeout=90)
        replayed = [int(n) for n in REPLAYED.findall(worker.log())]
    # Other tests' platforms share the changelog: the wiped worker reads ours and more.
    assert sum(replayed) >= 10 if state == "wiped" else replayed == [0] * len(replayed)
    assert ours(15) == sorted([f"a{i}" for i in range(10)] + [f"b{i}" for i in range(5)])
    reasons = [from_headers(m.headers(), m.value()).reason for m in rejects]
    assert reasons == ["DUPLICATE_EVENT"] * 10


def test_reject_ratio_guard_stops_the_worker_without_committing(private_bootstrap: str) -> None:
    """When nearly everything is refused, the code is suspect: stop, commit nothing."""
    conf = {"bootstrap.servers": private_bootstrap}
    platform = f"g{uuid.uuid4().hex[:6]}"
    ensure_platform(conf, platform, 2)
    producer = Producer(conf | {"enable.idempotence": True, "acks": "all"})
    for i in range(60):
        producer.produce(topics.ingest_loans(platform), b"junk %d" % i, b"k")
    assert producer.flush(30) == 0
    env = worker_env(
        private_bootstrap,
        CREDITSTREAM_REJECT_GUARD_WINDOW="20",
        CREDITSTREAM_REJECT_GUARD_RATIO="0.9",
    )
    with running_worker(env, ready=False) as worker:  # it is expected to stop by itself
        eventually(lambda: not worker.alive(), what="the guard stops the worker", timeout=60)
        assert worker.proc.returncode != 0
        assert "of the last 20 ingest records were rejected" in worker.log()
    # The guarded batch was aborted: its rejects never became visible and its offsets
    # were not committed, so the committed offset still equals what was written.
    visible = consume_all(conf, topics.rejected(platform), expected=60, timeout=5)
    assert len(visible) < 60
    consumer = Consumer(conf | {"group.id": f"{env['CREDITSTREAM_APP_ID']}-ingress"})
    committed = consumer.committed(
        [TopicPartition(topics.ingest_loans(platform), p) for p in range(2)], timeout=10
    )
    consumer.close()
    assert sum(max(tp.offset, 0) for tp in committed) == len(visible)


def test_an_unprovisioned_platform_waits_until_it_is_provisioned(private_bootstrap: str) -> None:
    """A platform whose ingest topic exists without its rejected topic (not provisioned)
    is left unread, said and exported; provisioning it lets its records through."""
    conf = {"bootstrap.servers": private_bootstrap}
    platform = f"u{uuid.uuid4().hex[:6]}"
    create_topics(conf, [topics.ingest_loans(platform)], 2)
    producer = Producer(conf | {"enable.idempotence": True, "acks": "all"})
    producer.produce(
        topics.ingest_loans(platform), CODEC.encode(LOAN_EVENT, loan("w1", "GH123456"))
    )
    assert producer.flush(30) == 0
    labels = (("stage", "ingress"), ("tenant", platform))
    waiting = ("creditstream_tenant_partitions_waiting", labels)

    with running_worker(worker_env(private_bootstrap)) as worker:  # /metrics is up
        eventually(lambda: worker.metrics().get(waiting), what="the platform is reported waiting")
        said = f"{platform} is not provisioned (missing {topics.rejected(platform)})"
        assert said in worker.log()
        assert f"creditstream admin provision-platform {platform}" in worker.log()
        ensure_platform(conf, platform, 2)
        eventually(lambda: waiting not in worker.metrics(), what="the platform is served")

        def ours() -> list[str]:  # other tests of this module wrote exchange.events too
            msgs = consume_all(conf, topics.EXCHANGE_EVENTS, expected=1, timeout=10)
            found = [from_avro(CODEC.decode(m.value() or b"")[1]) for m in msgs]
            return [e.event_id for e in found if e.platform == platform]

        assert eventually(ours, what="the waiting record forwarded", timeout=60) == ["w1"]
        assert worker.alive(), worker.log()

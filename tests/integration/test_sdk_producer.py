"""Platform SDK, ``publish``, ``rejects`` and ``simulate`` against the real broker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

from streams import topics
from streams.commands.simulate import SimulationConfig, run_simulation
from streams.errors import ConfigError
from streams.runtime.provision import ensure_platform
from streams.runtime.registry import codec_for
from streams.sdk import DeliveryError, DeliveryReport, PlatformProducer, RefusedEventError
from streams.settings import KafkaConf, Settings
from streams.simulator.load import SimConfig, SimRecord, generate
from streams.wire.avrojson import datum_to_json
from streams.wire.rejects import Reject
from streams.wire.schemas import ACTIVITY_EVENT, LOAN_EVENT
from tests.integration.kafka_helpers import consume_all, free_port, unique
from tests.waiting import NotYet, eventually

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
CODEC = codec_for(None)
MY_COMMANDS = ("streams.commands.publish", "streams.commands.rejects", "streams.commands.simulate")
# ``python -m streams.cli`` with this change's subcommands registered whether or not
# streams/cli.py lists them yet (the lead adds them to COMMAND_MODULES).
CLI = [
    sys.executable,
    "-c",
    "import sys; from streams import cli; "
    f"cli.COMMAND_MODULES += tuple(m for m in {MY_COMMANDS!r} if m not in cli.COMMAND_MODULES); "
    "sys.exit(cli.main(sys.argv[1:]))",
]


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@pytest.fixture
def platform(kafka_conf: KafkaConf) -> str:
    name = unique("p")
    ensure_platform(kafka_conf, name, 3)
    return name


@pytest.fixture
def settings(bootstrap: str) -> Settings:
    return Settings(bootstrap=bootstrap)


def good_records(n: int, seed: int = 1) -> list[SimRecord]:
    config = SimConfig(now_ms=now_ms(), events=n, borrowers=10, bad_share=0.0, seed=seed)
    return list(generate(config, CODEC.encode))


def run_cli(bootstrap: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"CREDITSTREAM_BOOTSTRAP": bootstrap}
    return subprocess.run(
        [*CLI, *args], check=False, cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )


def test_valid_events_arrive_keyed_and_decode_back_equal(
    settings: Settings, kafka_conf: KafkaConf, platform: str
) -> None:
    records = good_records(60)
    reports: list[DeliveryReport] = []
    with PlatformProducer(platform, settings, on_delivery=reports.append) as producer:
        for r in records:
            assert r.datum is not None
            if r.schema_name == LOAN_EVENT:
                assert producer.send_loan(r.datum) == r.event_id
            else:
                assert producer.send_activity(r.datum) == r.event_id
    sent = {r.event_id or "": r for r in records}
    assert sorted(rep.event_id or "" for rep in reports) == sorted(sent)
    assert all(rep.ok and rep.offset >= 0 for rep in reports)
    n_loans = sum(r.schema_name == LOAN_EVENT for r in records)
    got = consume_all(kafka_conf, topics.ingest_loans(platform), n_loans)
    got += consume_all(kafka_conf, topics.ingest_activity(platform), len(records) - n_loans)
    assert len(got) == len(records)
    where: dict[tuple[str | None, int | None, int | None], str | None] = {
        (rep.topic, rep.partition, rep.offset): rep.event_id for rep in reports
    }
    for msg in got:
        name, datum = CODEC.decode(msg.value() or b"")
        original = sent[datum["event_id"]]
        assert datum == original.datum
        assert name == original.schema_name
        assert (msg.key() or b"").decode() == original.key
        # The delivery report named exactly where the record is.
        assert where[(msg.topic(), msg.partition(), msg.offset())] == datum["event_id"]


def test_refused_event_raises_and_sends_nothing(
    settings: Settings, kafka_conf: KafkaConf, platform: str
) -> None:
    loan = next(r for r in good_records(40) if r.schema_name == LOAN_EVENT)
    assert loan.datum is not None
    negative = loan.datum | {"amount": Decimal("-1.00"), "event_id": "neg"}
    huge = loan.datum | {"lender": "x" * 20_000, "event_id": "huge"}
    with PlatformProducer(platform, settings) as producer:
        with pytest.raises(RefusedEventError) as refused:
            producer.send_loan(negative)
        assert (refused.value.reason, refused.value.field) == ("NEGATIVE_AMOUNT", "amount")
        assert loan.datum["national_id"] not in str(refused.value)
        with pytest.raises(RefusedEventError, match="OVERSIZE"):
            producer.send_loan(huge)
        with pytest.raises(RefusedEventError, match="WRONG_SCHEMA"):
            producer.send("io.creditstream.BorrowerProfile", loan.datum)
        with pytest.raises(RefusedEventError):  # a LoanEvent is not an ActivityEvent
            producer.send_activity(loan.datum)
        producer.send_loan(loan.datum)  # the only record that may arrive
        assert producer.stats.refused == 4
    got = consume_all(kafka_conf, topics.ingest_loans(platform), expected=1)
    got += consume_all(kafka_conf, topics.ingest_activity(platform), expected=0, timeout=5)
    assert [CODEC.decode(m.value() or b"")[1]["event_id"] for m in got] == [loan.event_id]


def test_exit_flushes_every_record(settings: Settings, platform: str) -> None:
    reports: list[DeliveryReport] = []
    records = good_records(200, seed=2)
    with PlatformProducer(platform, settings, on_delivery=reports.append) as producer:
        for r in records:
            producer.send(r.schema_name, r.datum or {})
    # No flush() by the caller: leaving the block delivered and reported everything.
    assert len(reports) == len(records) and all(rep.ok for rep in reports)
    assert producer.stats.delivered == len(records) and producer.stats.in_flight == 0


def test_undeliverable_records_raise_on_exit() -> None:
    dead = Settings(bootstrap=f"127.0.0.1:{free_port()}")
    reports: list[DeliveryReport] = []
    record = good_records(5)[0]
    producer = PlatformProducer(
        "nobody",
        dead,
        on_delivery=reports.append,
        check_topics=False,
        extra_config={"message.timeout.ms": 1500},
        flush_timeout=20,
    )
    with pytest.raises(DeliveryError) as lost, producer:
        producer.send(record.schema_name, record.datum or {})
    assert lost.value.failed + lost.value.undelivered == 1
    assert [r.ok for r in reports] == [False] * lost.value.failed


def test_missing_topics_and_bad_names_fail_fast(settings: Settings) -> None:
    with pytest.raises(ConfigError, match="provision"):
        PlatformProducer(unique("unprovisioned"), settings)
    with pytest.raises(ConfigError, match="invalid platform"):
        PlatformProducer("Not_A_Platform", settings)


def test_send_raw_writes_bytes_untouched(
    settings: Settings, kafka_conf: KafkaConf, platform: str
) -> None:
    reports: list[DeliveryReport] = []
    with PlatformProducer(platform, settings, on_delivery=reports.append) as producer:
        producer.send_raw("loans", "u-1", b"\x00not avro at all", ref=("mine", 1))
    (msg,) = consume_all(kafka_conf, topics.ingest_loans(platform), expected=1)
    assert (msg.key(), msg.value()) == (b"u-1", b"\x00not avro at all")
    assert [(r.ref, r.event_id, r.offset) for r in reports] == [(("mine", 1), None, msg.offset())]


def test_publish_cli_sends_valid_lines_and_reports_refused_ones(
    bootstrap: str, kafka_conf: KafkaConf, platform: str, tmp_path: Path
) -> None:
    records = good_records(30, seed=3)
    loans = [r for r in records if r.schema_name == LOAN_EVENT][:3]
    acts = [r for r in records if r.schema_name == ACTIVITY_EVENT][:2]

    def as_line(r: SimRecord, **change: Any) -> str:
        obj = datum_to_json(r.datum) | {"schema": r.schema_name.rpartition(".")[2]} | change
        return json.dumps(obj)

    lines = [as_line(r) for r in loans + acts]
    lines.insert(2, as_line(loans[0], event_id="bad-1", amount="-5.00"))  # line 3
    lines.insert(4, "")  # line 5: blank
    lines.insert(5, '{"schema": "LoanEvent", "national_id": ')  # line 6
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(lines) + "\n")

    done = run_cli(bootstrap, "publish", "--platform", platform, str(path), "--progress")
    assert done.returncode == 1, done.stderr
    first = done.stdout.splitlines()[0]
    assert (
        first
        == f"platform {platform}: 7 events, 5 delivered, 2 refused locally, 0 failed, 0 undelivered"
    )
    assert "line 3: NEGATIVE_AMOUNT" in done.stdout
    assert "line 6: INVALID_JSON" in done.stdout
    assert "5/8" in done.stderr or "8/8" in done.stderr  # the progress bar was drawn
    for r in records:
        assert r.datum is not None
        assert r.datum["national_id"] not in done.stdout + done.stderr
    got = consume_all(kafka_conf, topics.ingest_loans(platform), expected=3)
    got += consume_all(kafka_conf, topics.ingest_activity(platform), expected=2)
    assert sorted(CODEC.decode(m.value() or b"")[1]["event_id"] for m in got) == sorted(
        r.event_id or "" for r in loans + acts
    )

    clean = tmp_path / "clean.jsonl"
    clean.write_text(as_line(acts[0], event_id="again-1") + "\n")
    again = run_cli(bootstrap, "publish", "--platform", platform, str(clean), "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["delivered"] == 1


def test_rejects_cli_shows_reasons_but_not_the_original_bytes(
    bootstrap: str, kafka_conf: KafkaConf, platform: str
) -> None:
    secret = b"850101-99999 is a national id"
    written = [
        Reject(topics.ingest_loans(platform), 2, 41, "NEGATIVE_AMOUNT",
               "amount must not be negative", 1_788_220_800_000, secret),
        Reject(topics.ingest_activity(platform), 0, 7, "NOT_AVRO",
               "no Avro single-object header (C3 01)", 1_788_220_801_000, b"\x01\x02\x03"),
    ]  # fmt: skip
    producer = Producer(kafka_conf)
    for rej in written:
        producer.produce(
            topics.rejected(platform), key=rej.key.encode(), value=rej.original,
            headers=rej.headers(), partition=0,
        )  # fmt: skip
    producer.produce(topics.rejected(platform), value=b"stray", partition=0)
    assert producer.flush(30) == 0

    plain = run_cli(bootstrap, "rejects", "--platform", platform)
    assert plain.returncode == 0, plain.stderr
    out = plain.stdout.splitlines()
    assert out[0] == (
        f"2026-09-01T00:00:00.000Z  ingest.{platform}.loans:2:41  NEGATIVE_AMOUNT  "
        f"amount must not be negative  ({len(secret)} bytes)"
    )
    assert f"ingest.{platform}.activity:0:7  NOT_AVRO" in out[1]
    assert out[-1] == f"2 reject(s) in ingest.{platform}.rejected: NEGATIVE_AMOUNT 1, NOT_AVRO 1"
    assert "850101" not in plain.stdout and "not a reject record" in plain.stderr

    as_json = run_cli(bootstrap, "rejects", "--platform", platform, "--json", "--show-bytes")
    rows = [json.loads(x) for x in as_json.stdout.splitlines()]
    assert [(r["reason"], r["source_offset"], r["size"]) for r in rows] == [
        ("NEGATIVE_AMOUNT", 41, len(secret)),
        ("NOT_AVRO", 7, 3),
    ]
    assert bytes.fromhex(rows[0]["original_hex"]) == secret

    limited = run_cli(bootstrap, "rejects", "--platform", platform, "--limit", "1")
    assert [x for x in limited.stdout.splitlines() if "  ingest." in x] == out[:1]


def test_run_simulation_puts_every_record_where_its_summary_says(
    settings: Settings, kafka_conf: KafkaConf
) -> None:
    prefix = unique("s") + "-"
    sim = SimConfig(
        now_ms=now_ms(), platforms=6, borrowers=30, events=600, bad_share=0.05,
        seed=4, platform_prefix=prefix,
    )  # fmt: skip
    summary = run_simulation(settings, SimulationConfig(sim, partitions=2))
    assert summary.good + summary.bad == 600 and summary.bad == 30
    assert len(summary.sent) == 600 and [s.index for s in summary.sent] == list(range(600))
    assert set(summary.bad_by_reason) == {k.reason.value for k in _all_bad_kinds(summary)}
    stored = read_topics(kafka_conf, sorted({s.topic for s in summary.sent}), 600)
    assert len(stored) == 600
    for s in summary.sent:
        r = s.record
        want = r.raw if r.raw is not None else CODEC.encode(r.schema_name, r.datum or {})
        assert stored[(s.topic, s.partition, s.offset)] == want
    assert len(summary.expected_rejects()) == 30


def read_topics(
    conf: KafkaConf, names: list[str], expected: int
) -> dict[tuple[str, int, int], bytes]:
    """Every record of several topics by (topic, partition, offset), one consumer, no group."""
    consumer = Consumer(conf | {"group.id": unique("read"), "enable.auto.commit": False})
    meta = consumer.list_topics(timeout=10).topics
    consumer.assign(
        [TopicPartition(t, p, OFFSET_BEGINNING) for t in names for p in meta[t].partitions]
    )
    out: dict[tuple[str, int, int], bytes] = {}

    def read() -> bool | NotYet:
        for m in consumer.consume(1000, timeout=0.5):
            if m.error() is None:
                out[(m.topic() or "", m.partition() or 0, m.offset() or 0)] = m.value() or b""
        return len(out) >= expected or NotYet(f"{len(out)} of {expected} records")

    try:
        eventually(read, what=f"{expected} records read from {names}", timeout=60, interval=0)
    finally:
        consumer.close()
    return out


def _all_bad_kinds(summary: Any) -> set[Any]:
    return {s.record.bad for s in summary.sent if s.record.bad is not None}


def test_simulate_cli_prints_a_summary(bootstrap: str) -> None:
    done = run_cli(
        bootstrap, "simulate", "--platforms", "2", "--borrowers", "10", "--events", "120",
        "--bad-share", "0.1", "--seed", "5", "--rate", "2000/s", "--platform-prefix",
        unique("c") + "-", "--partitions", "1", "--progress",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("simulated 120 records on 2 platforms")
    bad_line = next(x for x in done.stdout.splitlines() if x.startswith("bad by reason:"))
    assert sum(int(part.split()[-1]) for part in bad_line[15:].split(",")) == 12
    assert "simulate" in done.stderr  # the progress line

"""``creditstream report`` against a real broker: a person's own report.

What the borrower stage commits is written the way it writes it: the state record its
pure batch path encodes (loans from two platforms, activity, a bank's consent) on the
compacted exchange.borrower-state, and the batch's deliveries sealed into the audit
chain, both keyed by borrower_id with librdkafka's murmur2 partitioner (so the CLI,
which reads only the partition it computes, finds them only if its murmur2 agrees).
The CLI runs as a subprocess and reads the national ID from stdin.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from streams import topics
from streams.domain.audit import ChainHead
from streams.domain.privacy import Pseudonymizer
from streams.domain.profile.windows import DEFAULT_CONFIG
from streams.runtime.provision import ensure, exchange_topics
from streams.runtime.registry import codec_for
from streams.settings import KafkaConf
from streams.stages.borrower.batch import process_batch
from streams.stages.borrower.events import op_of
from streams.stages.borrower.records import OutputEncoder
from streams.stages.borrower.store import BorrowerStore
from streams.wire.consents import Action, ConsentRequest, Purpose
from streams.wire.events import LoanEventType
from streams.wire.partition import partition_for
from streams.wire.schemas import AUDIT_RECORD
from tests.integration.workers import run_cli
from tests.unit.profile_factories import DAY, activity_event, loan_event

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
KEY = "integration-test-hmac-key-0123456789"
PSEUDO = Pseudonymizer({1: KEY})
PERSON, NOBODY = "850101-1234", "990909-0000"
BID = PSEUDO.borrower_id(PERSON)
PARTITIONS = 3
CODEC = codec_for(None)


def _murmur2_producer(bootstrap: str) -> Producer:
    return Producer({"bootstrap.servers": bootstrap, "partitioner": "murmur2_random"})


def _commit_like_the_stage(bootstrap: str) -> None:
    now = int(time.time() * 1000)
    ops = [
        op_of(0, loan_event("d1", now - 40 * DAY, LoanEventType.DISBURSEMENT, borrower=BID)),
        op_of(
            0,
            loan_event(
                "d2",
                now - 3 * DAY,
                LoanEventType.DISBURSEMENT,
                platform="shop",
                loan_id="K9",
                borrower=BID,
            ),
        ),
        op_of(0, activity_event("a1", now - 2 * DAY, borrower=BID)),
    ]
    consent = ConsentRequest(
        "nordbank",
        BID,
        1,
        "nb-7",
        Action.SUBSCRIBE,
        "consent-nb-7",
        Purpose.ACCOUNT_REVIEW,
        now + 90 * DAY,
        now,
    )
    store = BorrowerStore(10)
    first = process_batch(
        [(0, consent)], [], (), store.get, now, DEFAULT_CONFIG, OutputEncoder(CODEC)
    )
    out = process_batch([], ops, (), store.get, now, DEFAULT_CONFIG, OutputEncoder(CODEC))
    record = out.states[BID][1]
    assert record is not None
    producer = _murmur2_producer(bootstrap)
    producer.produce(topics.BORROWER_STATE, record, BID.encode())
    head = ChainHead()
    sealed = [head.seal(d.audit) for _, d in [*first.deliveries, *out.deliveries] if d.audit]
    assert sealed, "the consented bank received the new profile"
    for datum in sealed:
        producer.produce(topics.EXCHANGE_AUDIT, CODEC.encode(AUDIT_RECORD, datum), BID.encode())
    assert producer.flush(30) == 0


def _cli(bootstrap: str, stdin: str, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(bootstrap, "report", "--national-id", "-", *args, stdin=stdin, hmac_key=KEY)


@pytest.fixture(scope="module")
def exchange(private_bootstrap: str) -> str:
    conf: KafkaConf = {"bootstrap.servers": private_bootstrap}
    ensure(conf, exchange_topics(PARTITIONS))
    _commit_like_the_stage(private_bootstrap)
    return private_bootstrap


def test_our_murmur2_puts_keys_where_librdkafka_does(exchange: str) -> None:
    producer = _murmur2_producer(exchange)
    keys = [f"{i:064x}".encode() for i in range(40)]
    placed: dict[bytes, int] = {}

    def remember(err: object, msg: object) -> None:
        assert err is None
        placed[msg.key()] = msg.partition()  # type: ignore[attr-defined]

    for key in keys:
        producer.produce("exchange.dead-letter", b"x", key, on_delivery=remember)
    assert producer.flush(30) == 0
    assert placed == {k: partition_for(k, PARTITIONS) for k in keys}


def test_a_person_reads_their_record_and_who_received_it(exchange: str, tmp_path: Path) -> None:
    text = _cli(exchange, PERSON)
    assert text.returncode == 0, text.stderr
    out = text.stdout
    assert "p1 loan L1 (open)" in out and "shop loan K9 (open)" in out
    assert "nordbank for ACCOUNT_REVIEW (consent consent-nb-7)" in out
    assert "Audit chain: verified" in out and "Report 1 this year" in out

    as_json = _cli(exchange, PERSON.replace("-", " "), "--json")  # typed another way
    assert as_json.returncode == 0, as_json.stderr
    report = json.loads(as_json.stdout)
    assert {(ln["platform"], ln["loan_id"]) for ln in report["loans"]} == {
        ("p1", "L1"),
        ("shop", "K9"),
    }
    assert report["profile"]["open_loans"] == 2
    assert [d["bank"] for d in report["deliveries"]] == ["nordbank"] * len(report["deliveries"])
    assert report["deliveries"] and report["reports_this_year"] == 2

    page = tmp_path / "me.html"
    html = _cli(exchange, PERSON, "--html", str(page))
    assert html.returncode == 0, html.stderr
    body = page.read_text()
    assert "nordbank" in body and "K9" in body
    assert "Report 3 this year (2 are free a year; this one may be charged)" in body
    for res in (text, as_json, html):
        assert PERSON not in res.stdout + res.stderr and BID not in res.stdout + res.stderr
    assert PERSON not in body and BID not in body


def test_a_person_nobody_reported_on_is_told_so_and_the_reports_are_metered(
    exchange: str,
) -> None:
    res = _cli(exchange, NOBODY)
    assert res.returncode == 0, res.stderr
    assert "No records" in res.stdout and "nobody" in res.stdout
    conf = {"bootstrap.servers": exchange, "group.id": "t-reports", "enable.partition.eof": True}
    reader = Consumer(conf | {"auto.offset.reset": "earliest"})
    reader.assign([TopicPartition(topics.REPORTS, p, 0) for p in range(PARTITIONS)])
    keys, ends = [], 0
    while ends < PARTITIONS:
        msg = reader.poll(10)
        assert msg is not None, "exchange.reports not readable"
        if msg.error():
            ends += 1
            continue
        keys.append(msg.key())
        assert PERSON.encode() not in (msg.value() or b"")
    reader.close()
    assert PSEUDO.borrower_id(NOBODY).encode() in keys

"""``creditstream platforms`` reports what Kafka holds: records, last record, rejects."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from confluent_kafka import Producer

from streams import topics
from streams.runtime.provision import ensure_platform
from streams.wire.rejects import Reject
from tests.integration.kafka_helpers import unique


def test_platforms_counts_records_last_time_and_rejects(bootstrap: str) -> None:
    conf = {"bootstrap.servers": bootstrap}
    p1, p2 = unique("pa")[:12], unique("pb")[:12]
    ensure_platform(conf, p1, 2)
    ensure_platform(conf, p2, 1)
    producer = Producer(conf | {"enable.idempotence": True, "acks": "all"})
    for i in range(10):
        producer.produce(topics.ingest_loans(p1), b"x", f"k{i}".encode())
    for i in range(5):
        producer.produce(topics.ingest_activity(p1), b"y", f"k{i}".encode())
    for _ in range(3):
        producer.produce(topics.ingest_loans(p2), b"z", b"k")
    now = int(time.time() * 1000)
    for reason, at in (
        ("NOT_AVRO", now),
        ("TOO_OLD", now),
        ("NOT_AVRO", now),
        ("OVERSIZE", now - 30 * 86_400_000),
    ):
        reject = Reject(topics.ingest_loans(p1), 0, 1, reason, "m", at, b"x")
        producer.produce(topics.rejected(p1), b"x", reject.key.encode(), headers=reject.headers())
    assert producer.flush(30) == 0
    out = subprocess.run(
        [sys.executable, "-m", "streams.cli", "platforms", "--json", "--days", "7"],
        env=dict(os.environ) | {"CREDITSTREAM_BOOTSTRAP": bootstrap},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    rows = {r["platform"]: r for r in json.loads(out.stdout)["platforms"]}
    assert rows[p1]["records"] == 15
    assert rows[p1]["rejects"] == 3  # the one rejected 30 days ago is outside the window
    assert rows[p1]["reasons"] == {"NOT_AVRO": 2, "TOO_OLD": 1}
    assert rows[p1]["reject_rate"] == 0.2
    assert rows[p2] | {"last_record_at": None} == {
        "platform": p2,
        "last_record_at": None,
        "records": 3,
        "rejects": 0,
        "reject_rate": 0.0,
        "reasons": {},
        "disputes_open": 0,
        "disputes_unanswered": 0,
        "disputes_closed": {},
    }
    assert rows[p2]["last_record_at"].startswith(time.strftime("%Y-%m-%dT", time.gmtime()))
    text = subprocess.run(
        [sys.executable, "-m", "streams.cli", "platforms"],
        env=dict(os.environ) | {"CREDITSTREAM_BOOTSTRAP": bootstrap},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    line = next(ln for ln in text.splitlines() if ln.startswith(p1))
    # records, rejects, rate, disputes open, unanswered, top reasons
    assert line.split()[3:] == ["15", "3", "20.0%", "0", "0", "NOT_AVRO", "2,", "TOO_OLD", "1"]
    assert "UNANSWERED OBJECTIONS" not in text

"""``creditstream audit``, ``audit verify`` and ``billing`` against a real broker.

Sealed audit records are written to ``exchange.audit`` (a fixed name, hence the
module's private broker) the way the borrower stage writes them: one chain per
partition, keyed by borrower_id. The CLIs run as subprocesses.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer

from streams import topics
from streams.domain.audit import GENESIS, ChainHead
from streams.domain.billing import month_bounds
from streams.domain.privacy import Pseudonymizer
from streams.runtime.auditlog import chain_heads
from streams.runtime.provision import TopicSpec, ensure, exchange_topics
from streams.runtime.registry import codec_for
from streams.settings import KafkaConf
from streams.wire.schemas import AUDIT_RECORD

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
CODEC = codec_for(None)
KEY = "integration-test-hmac-key-0123456789"
PSEUDO = Pseudonymizer({1: KEY})
PARTITIONS = 3
MY_COMMANDS = ("streams.commands.audit", "streams.commands.billing")
# ``python -m streams.cli`` with these subcommands registered whether or not
# streams/cli.py lists them yet (the lead adds them to COMMAND_MODULES).
CLI = [
    sys.executable,
    "-c",
    "import sys; from streams import cli; "
    f"cli.COMMAND_MODULES += tuple(m for m in {MY_COMMANDS!r} if m not in cli.COMMAND_MODULES); "
    "sys.exit(cli.main(sys.argv[1:]))",
]
PEOPLE = ["850101-1234", "900202-5678", "751231-0001", "660606-4242"]
AUG, SEP = month_bounds("2026-08")[0], month_bounds("2026-09")[0]
HOUR = 3_600_000


def deliveries() -> list[dict[str, Any]]:
    """Audit fields of a little history: two banks, overlapping borrowers, two months."""
    out = []
    for i in range(40):
        person = PEOPLE[i % len(PEOPLE)]
        bank = ("alpha", "beta")[i % 3 == 0]
        out.append(
            {
                "bank": bank,
                "borrower_id": PSEUDO.borrower_id(person),
                "customer_ref": f"{bank}-cust-{PEOPLE.index(person)}",
                "profile_version": i + 1,
                "purpose": ("CREDIT_APPLICATION", "ACCOUNT_REVIEW")[i % 2],
                "consent_ref": f"{bank}-consent-{PEOPLE.index(person)}",
                "delivered_at": (AUG if i < 30 else SEP) + i * HOUR,
                "feed_topic": topics.feed(bank),
            }
        )
    return out


def write_chains(
    bootstrap: str, topic: str, records: list[dict[str, Any]], tamper: int | None = None
) -> dict[int, list[dict[str, Any]]]:
    """Seal per partition (partition chosen by borrower, as the stage's co-partitioning
    would) and produce; ``tamper``: the index of a record modified *after* sealing."""
    heads = {p: ChainHead() for p in range(PARTITIONS)}
    written: dict[int, list[dict[str, Any]]] = {p: [] for p in range(PARTITIONS)}
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    for i, fields in enumerate(records):
        partition = (
            PEOPLE.index(next(p for p in PEOPLE if PSEUDO.borrower_id(p) == fields["borrower_id"]))
            % PARTITIONS
        )
        datum = heads[partition].seal(fields)
        if i == tamper:
            datum = datum | {"purpose": "COLLECTIONS"}
        written[partition].append(datum)
        producer.produce(
            topic,
            key=datum["borrower_id"].encode(),
            value=CODEC.encode(AUDIT_RECORD, datum),
            partition=partition,
        )
    assert producer.flush(30) == 0
    return written


def run_cli(bootstrap: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREDITSTREAM_")}
    env |= {"CREDITSTREAM_BOOTSTRAP": bootstrap, "CREDITSTREAM_HMAC_KEY": KEY}
    return subprocess.run(
        [*CLI, *args], check=False, cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.fixture(scope="module")
def audit_log(private_bootstrap: str) -> dict[int, list[dict[str, Any]]]:
    conf: KafkaConf = {"bootstrap.servers": private_bootstrap}
    specs = [s for s in exchange_topics(PARTITIONS) if s.name == topics.EXCHANGE_AUDIT]
    ensure(conf, [*specs, TopicSpec("audit-tampered", PARTITIONS, specs[0].config)])
    written = write_chains(private_bootstrap, topics.EXCHANGE_AUDIT, deliveries())
    write_chains(private_bootstrap, "audit-tampered", deliveries(), tamper=17)
    return written


def test_audit_answers_who_received_a_persons_data(
    private_bootstrap: str, audit_log: dict[int, list[dict[str, Any]]]
) -> None:
    person = PEOPLE[1]
    borrower = PSEUDO.borrower_id(person)
    expected = [r for r in deliveries() if r["borrower_id"] == borrower]
    # The regulator types the ID however it is written; normalization finds the person.
    res = run_cli(private_bootstrap, "audit", "--national-id", "900202 5678", "--json")
    assert res.returncode == 0, res.stderr
    answer = json.loads(res.stdout)
    got = [
        (d["bank"], d["purpose"], d["consent_ref"], d["profile_version"])
        for d in answer["deliveries"]
    ]
    assert got == [
        (r["bank"], r["purpose"], r["consent_ref"], r["profile_version"]) for r in expected
    ]
    assert answer["chain_ok"] is True
    assert answer["by_bank"] == {
        b: sum(r["bank"] == b for r in expected) for b in sorted({r["bank"] for r in expected})
    }
    text = run_cli(private_bootstrap, "audit", "--national-id", person)
    assert text.returncode == 0, text.stderr
    assert f"{len(expected)} delivery(ies)" in text.stdout
    assert "audit chain of partition" in text.stdout and "ok" in text.stdout
    for out in (res.stdout + res.stderr, text.stdout + text.stderr):
        assert borrower not in out
        assert person not in out and "9002025678" not in out
    since = run_cli(
        private_bootstrap, "audit", "--national-id", person, "--since", "2026-09-01", "--json"
    )
    assert len(json.loads(since.stdout)["deliveries"]) == sum(
        r["delivered_at"] >= SEP for r in expected
    )


def test_unknown_person_has_no_deliveries(
    private_bootstrap: str, audit_log: dict[int, list[dict[str, Any]]]
) -> None:
    res = run_cli(private_bootstrap, "audit", "--national-id", "123456789", "--json")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["deliveries"] == []


def test_verify_reports_every_partition_ok(
    private_bootstrap: str, audit_log: dict[int, list[dict[str, Any]]]
) -> None:
    res = run_cli(private_bootstrap, "audit", "verify")
    assert res.returncode == 0, res.stdout + res.stderr
    for p, records in audit_log.items():
        assert f"partition {p}: ok {len(records)} records" in res.stdout


def test_verify_detects_a_modified_record_and_exits_1(
    private_bootstrap: str, audit_log: dict[int, list[dict[str, Any]]]
) -> None:
    res = run_cli(private_bootstrap, "audit", "verify", "--topic", "audit-tampered", "--json")
    assert res.returncode == 1, res.stdout + res.stderr
    report = json.loads(res.stdout)
    assert report["ok"] is False
    bad = [row for row in report["partitions"] if not row["ok"]]
    assert len(bad) == 1
    (problem,) = bad[0]["problems"]
    assert "MODIFIED" in problem
    # Record 17 is the n-th of its partition; with an idempotent producer offsets are dense.
    tampered = deliveries()[17]
    partition = bad[0]["partition"]
    n = [r["profile_version"] for r in audit_log[partition]].index(tampered["profile_version"])
    assert problem.startswith(f"offset {n}:")


def test_billing_equals_the_audit_count(
    private_bootstrap: str, audit_log: dict[int, list[dict[str, Any]]]
) -> None:
    records = deliveries()
    for month, start in (("2026-08", AUG), ("2026-09", SEP)):
        end = month_bounds(month)[1]
        res = run_cli(private_bootstrap, "billing", "--month", month, "--json")
        assert res.returncode == 0, res.stderr
        bill = json.loads(res.stdout)
        in_month = [r for r in records if start <= r["delivered_at"] < end]
        assert bill["deliveries"] == len(in_month)
        for st in bill["statements"]:
            mine = [r for r in in_month if r["bank"] == st["bank"]]
            assert st["deliveries"] == len(mine)
            assert st["distinct_borrowers"] == len({r["borrower_id"] for r in mine})
    text = run_cli(private_bootstrap, "billing", "--month", "2026-08", "--bank", "beta")
    assert text.returncode == 0, text.stderr
    assert "Statement for bank beta, 2026-08" in text.stdout
    assert "alpha" not in text.stdout
    empty = run_cli(private_bootstrap, "billing", "--month", "2025-01")
    assert "No deliveries" in empty.stdout


def test_chain_heads_resume_after_the_newest_committed_record(
    private_bootstrap: str, audit_log: dict[int, list[dict[str, Any]]]
) -> None:
    conf: KafkaConf = {"bootstrap.servers": private_bootstrap}
    heads = chain_heads(conf, list(range(PARTITIONS)))
    assert {p: h.hash for p, h in heads.items()} == {
        p: records[-1]["hash"] for p, records in audit_log.items()
    }
    ensure(conf, [TopicSpec("audit-empty", 1, {})])
    assert chain_heads(conf, [0], topic="audit-empty")[0].hash == GENESIS


def test_aborted_audit_records_never_count_nor_become_the_head(private_bootstrap: str) -> None:
    conf: KafkaConf = {"bootstrap.servers": private_bootstrap}
    ensure(conf, [TopicSpec("audit-tx", 1, {})])
    producer = Producer({"bootstrap.servers": private_bootstrap, "transactional.id": "audit-tx"})
    producer.init_transactions(30)
    head = ChainHead()
    committed = []
    for abort, batch in ((False, deliveries()[:3]), (True, deliveries()[3:5])):
        mark = head.checkpoint()
        producer.begin_transaction()
        for fields in batch:
            datum = head.seal(fields)
            producer.produce("audit-tx", value=CODEC.encode(AUDIT_RECORD, datum), partition=0)
            if not abort:
                committed.append(datum)
        if abort:
            producer.abort_transaction(30)
            head.reset(mark)
        else:
            producer.commit_transaction(30)
    assert chain_heads(conf, [0], topic="audit-tx")[0].hash == committed[-1]["hash"]
    res = run_cli(private_bootstrap, "audit", "verify", "--topic", "audit-tx")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "partition 0: ok 3 records" in res.stdout

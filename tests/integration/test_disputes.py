"""Objections end to end, on the real broker through a real ``creditstream worker``.

Three banks subscribe one borrower; the platform reports two loans, the first with a
wrong principal; bank gamma then revokes (it had received the data). The borrower
disputes the first loan (``creditstream dispute open``): alpha and beta, which hold
consent, receive the marked profile (the time it took is printed, not asserted), the
platform reads the dispute on its own topic. The platform answers with a CORRECTION:
alpha and beta receive the corrected, unmarked profile, gamma a correction notice,
each exactly once; ``dispute status`` says CORRECTED. The worker is then restarted with
a deadline of seconds and a second dispute, on the other loan, goes unanswered: the
loan leaves the profile, the banks are told, ``dispute status`` says NOT_VERIFIED and
the person's report lists both. Every delivery carrying data or a notice has its audit
record; no national ID or borrower_id reaches a feed or a platform.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from confluent_kafka import Producer

from streams import topics
from streams.domain.delivery import CORRECTION_NOTICE
from streams.domain.privacy import Pseudonymizer
from streams.domain.validation import to_epoch_ms
from streams.runtime.auditlog import read_audit
from streams.runtime.provision import ensure_bank, ensure_platform
from streams.runtime.registry import codec_for
from streams.sdk.subscriber import BankSubscriber
from streams.settings import Settings
from streams.wire.schemas import BORROWER_REQUEST, DISPUTE, FEED_RECORD, LOAN_EVENT
from tests.integration.test_profile_stage import _read_all
from tests.integration.workers import TEST_HMAC_KEY, running_worker, worker_env
from tests.waiting import NotYet, eventually

REPO = Path(__file__).resolve().parents[2]
CODEC = codec_for(None)
PLATFORM = "dsp-lend"
BANKS = ("dsp-alpha", "dsp-beta", "dsp-gamma")
ENDED = "dsp-gamma"
NID = "DSP4455667"
BID = Pseudonymizer({1: TEST_HMAC_KEY}, 1).borrower_id(NID)
Conf = dict[str, Any]


def loan(event_id: str, loan_id: str, principal: str, at: datetime, **kw: Any) -> bytes:
    datum = {
        "event_id": event_id,
        "occurred_at": at,
        "user_key": "u-dsp",
        "national_id": NID,
        "loan_id": loan_id,
        "lender": "Lender Oy",
        "product": "CASH_LOAN",
        "type": "DISBURSEMENT",
        "amount": Decimal(principal),
        "currency": "EUR",
        "principal_outstanding": Decimal(principal),
        "days_past_due": 0,
        "due_date": None,
        "term_months": 12,
        "corrects_event_id": None,
    }
    return CODEC.encode(LOAN_EVENT, datum | kw)


def publish(conf: Conf, *values: bytes) -> None:
    producer = Producer(conf | {"enable.idempotence": True})
    for value in values:
        producer.produce(topics.ingest_loans(PLATFORM), value, b"u-dsp")
    assert producer.flush(30) == 0


def feed(conf: Conf, bank: str) -> list[dict[str, Any]]:
    out = []
    for m in _read_all(conf, topics.feed(bank)):
        _, datum = CODEC.decode(m.value() or b"", {FEED_RECORD})
        out.append(datum)
    return out


def profiles(conf: Conf, bank: str) -> list[dict[str, Any]]:
    return [json.loads(r["profile"]) for r in feed(conf, bank) if r["profile"]]


def platform_disputes(conf: Conf) -> list[dict[str, Any]]:
    out = []
    for m in _read_all(conf, topics.disputes(PLATFORM)):
        _, datum = CODEC.decode(m.value() or b"", {DISPUTE})
        out.append(datum | {"_key": (m.key() or b"").decode(), "_raw": m.value() or b""})
    return out


def cli(bootstrap: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREDITSTREAM_")}
    env |= {"CREDITSTREAM_BOOTSTRAP": bootstrap, "CREDITSTREAM_HMAC_KEY": TEST_HMAC_KEY}
    return subprocess.run(
        [sys.executable, "-m", "streams.cli", *args],
        input=NID + "\n",
        check=False,
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def open_dispute(bootstrap: str, loan_id: str) -> str:
    res = cli(
        bootstrap, "dispute", "open", "--national-id", "-", "--platform", PLATFORM,
        "--loan-id", loan_id, "--reason", "the amount is wrong",
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert NID not in res.stdout + res.stderr
    return res.stdout.split()[1]


def status(bootstrap: str) -> dict[str, str]:
    res = cli(bootstrap, "dispute", "status", "--national-id", "-", "--json")
    assert res.returncode == 0, res.stderr
    return {d["dispute_id"]: d["status"] for d in json.loads(res.stdout)}


def has(found: bool, what: str) -> bool | NotYet:
    return found or NotYet(what)


def test_a_dispute_marks_then_corrects_every_recipient_and_an_unanswered_one_drops_the_loan(
    private_bootstrap: str,
) -> None:
    conf: Conf = {"bootstrap.servers": private_bootstrap}
    settings = Settings(bootstrap=private_bootstrap)
    ensure_platform(conf, PLATFORM, 2)
    for bank in BANKS:
        ensure_bank(conf, bank, 2)
    env = worker_env(private_bootstrap)
    year = datetime.now(UTC) + timedelta(days=365)
    at = datetime.now(UTC) - timedelta(days=3)
    with running_worker(env):
        for bank in BANKS:
            with BankSubscriber(bank, settings) as sub:
                sub.subscribe(NID, f"{bank}-c1", f"{bank}-consent", "ACCOUNT_REVIEW", year)
        publish(conf, loan("e1", "L-1", "5000.00", at), loan("e2", "L-2", "300.00", at))
        for bank in BANKS:
            eventually(
                lambda b=bank: has(  # type: ignore[misc]
                    any(p["open_loans"] == 2 for p in profiles(conf, b)), f"{b}: both loans"
                ),
                what=f"{bank} has both loans",
            )
        with BankSubscriber(ENDED, settings) as sub:
            sub.revoke(f"{ENDED}-c1", NID, f"{ENDED}-consent")
        eventually(
            lambda: has(any(r["message"] == "revoked" for r in feed(conf, ENDED)), "no ack"),
            what="gamma's revocation acknowledged",
        )
        seen_by_gamma = len(feed(conf, ENDED))

        first = open_dispute(private_bootstrap, "L-1")
        opened = time.monotonic()
        for bank in BANKS[:2]:
            eventually(
                lambda b=bank: has(  # type: ignore[misc]
                    any(first in json.dumps(p.get("disputed", [])) for p in profiles(conf, b)),
                    f"{b}: no mark",
                ),
                what=f"{bank} receives the marked profile",
            )
        print(f"dispute mark seen by the test {time.monotonic() - opened:.2f}s after the CLI ran")
        print_mark_latency(conf, first)
        (told,) = platform_disputes(conf)
        assert (told["_key"], told["status"], told["loan_id"]) == (first, "OPEN", "L-1")
        assert NID.encode() not in told["_raw"] and BID.encode() not in told["_raw"]
        assert len(feed(conf, ENDED)) == seen_by_gamma  # nothing new for an ended consent

        publish(
            conf,
            loan("c1", "L-1", "500.00", at, type="CORRECTION", corrects_event_id="e1"),
        )
        eventually(
            lambda: has(any(r["kind"] == CORRECTION_NOTICE for r in feed(conf, ENDED)), "none"),
            what="gamma's correction notice",
        )
        for bank in BANKS[:2]:
            eventually(
                lambda b=bank: has(  # type: ignore[misc]
                    profiles(conf, b)[-1]["outstanding_principal"] == {"EUR": "800.00"}
                    and "disputed" not in profiles(conf, b)[-1],
                    f"{b}: not corrected yet",
                ),
                what=f"{bank} receives the corrected profile",
            )
        assert status(private_bootstrap) == {first: "CORRECTED"}

    # The deadline is taken when a dispute opens: a restarted worker with a deadline of
    # seconds lets the second dispute run out (the state and its expiry index survive).
    short = env | {"CREDITSTREAM_DISPUTE_DEADLINE_DAYS": str(8 / 86_400)}
    with running_worker(short) as worker:
        second = open_dispute(private_bootstrap, "L-2")
        eventually(
            lambda: has(status(private_bootstrap).get(second) == "NOT_VERIFIED", "still open"),
            what="the unanswered dispute expires",
            timeout=120,
            interval=1,
        )
        for bank in BANKS[:2]:
            eventually(
                lambda b=bank: has(  # type: ignore[misc]
                    profiles(conf, b)[-1]["open_loans"] == 1
                    and profiles(conf, b)[-1]["outstanding_principal"] == {"EUR": "500.00"},
                    f"{b}: L-2 still there",
                ),
                what=f"{bank} sees the unverified loan leave the profile",
            )
        eventually(
            lambda: has(
                sum(r["kind"] == CORRECTION_NOTICE for r in feed(conf, ENDED)) == 2, "one notice"
            ),
            what="gamma's second notice",
        )
        counted = {
            dict(labels)["outcome"]: value
            for (name, labels), value in worker.metrics().items()
            if name == "creditstream_disputes_total" and dict(labels)["platform"] == PLATFORM
        }
        assert counted == {"opened": 1.0, "not_verified": 1.0}  # since this worker started
    told_all: dict[str, list[str]] = {}
    for d in platform_disputes(conf):  # in order per dispute (its key's partition)
        told_all.setdefault(d["_key"], []).append(d["status"])
    assert told_all == {first: ["OPEN", "CORRECTED"], second: ["OPEN", "NOT_VERIFIED"]}
    check_exactly_once_and_audited(conf)
    report = cli(private_bootstrap, "report", "--national-id", "-", "--json")
    assert report.returncode == 0, report.stderr
    listed = {d["dispute_id"]: d["status"] for d in json.loads(report.stdout)["disputes"]}
    assert listed == {first: "CORRECTED", second: "NOT_VERIFIED"}
    assert {(ln["platform"], ln["loan_id"]) for ln in json.loads(report.stdout)["loans"]} == {
        (PLATFORM, "L-1")
    }
    listing = cli(private_bootstrap, "platforms", "--json")
    assert listing.returncode == 0, listing.stderr
    (mine,) = [p for p in json.loads(listing.stdout)["platforms"] if p["platform"] == PLATFORM]
    assert (mine["disputes_open"], mine["disputes_unanswered"]) == (0, 1)
    assert mine["disputes_closed"] == {"CORRECTED": 1, "NOT_VERIFIED": 1}
    text = cli(private_bootstrap, "platforms")
    assert f"UNANSWERED OBJECTIONS: {PLATFORM}" in text.stdout, text.stdout


def print_mark_latency(conf: Conf, dispute_id: str) -> None:
    """From the request's ``requested_at`` to each marked feed record's ``produced_at``
    (printed, never asserted: a shared machine's timings are not a test)."""
    (asked,) = [
        to_epoch_ms(CODEC.decode(m.value() or b"", {BORROWER_REQUEST})[1]["requested_at"])
        for m in _read_all(conf, topics.REQUESTS)
        if CODEC.decode(m.value() or b"", {BORROWER_REQUEST})[1]["request_id"] == dispute_id
    ]
    for bank in BANKS[:2]:
        marked = [
            to_epoch_ms(r["produced_at"])
            for r in feed(conf, bank)
            if r["profile"] and dispute_id in r["profile"]
        ]
        print(f"request -> marked profile on {bank}'s feed: {min(marked) - asked} ms")


def check_exactly_once_and_audited(conf: Conf) -> None:
    delivered = []
    for bank in BANKS:
        records = feed(conf, bank)
        kinds = Counter((r["customer_ref"], r["profile_version"], r["kind"]) for r in records)
        assert set(kinds.values()) == {1}, (bank, kinds)  # nothing twice
        for r in records:
            assert NID not in str(r) and BID not in str(r)
            if r["profile"] is not None or r["kind"] == CORRECTION_NOTICE:
                delivered.append((bank, r["customer_ref"], r["profile_version"]))
    audited = [
        (d["bank"], d["customer_ref"], d["profile_version"])
        for e in read_audit(conf)
        if (d := e.datum) is not None and d["bank"] in BANKS
    ]
    assert sorted(delivered) == sorted(audited)
    notices = [r for r in feed(conf, ENDED) if r["kind"] == CORRECTION_NOTICE]
    assert len(notices) == 2 and all(r["profile"] is None for r in notices)

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
the person's report lists both. Then the borrower, and a second person with only
activity and no consent, ask for erasure: the banks receive the profile without the
activity (the loan with negative data stays for its retention), the second person's
latest value on exchange.profiles and exchange.borrower-state is a tombstone, the
rights log records both erasures without the data, and the report shows what is left.
Every delivery carrying data or a notice has its audit
record; no national ID or borrower_id reaches a feed or a platform.
"""

from __future__ import annotations

import json
import random
import subprocess
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
from streams.sdk.subscriber import BankSubscriber, profile_of
from streams.settings import Settings
from streams.wire.schemas import (
    ACTIVITY_EVENT,
    BORROWER_REQUEST,
    DISPUTE,
    FEED_RECORD,
    LOAN_EVENT,
    RIGHT_EXERCISED,
)
from tests.integration.test_profile_stage import _activity, _read_all
from tests.integration.workers import TEST_HMAC_KEY, run_cli, running_worker, worker_env
from tests.waiting import NotYet, eventually

REPO = Path(__file__).resolve().parents[2]
CODEC = codec_for(None)
PLATFORM = "dsp-lend"
BANKS = ("dsp-alpha", "dsp-beta", "dsp-gamma")
ENDED = "dsp-gamma"
NID, OTHER = "DSP4455667", "DSP9988776"
BID = Pseudonymizer({1: TEST_HMAC_KEY}, 1).borrower_id(NID)
Conf = dict[str, Any]


def loan(event_id: str, loan_id: str, principal: str, at: datetime, **kw: Any) -> bytes:
    datum = {
        "event_id": event_id,
        "occurred_at": at,
        "user_key": "u-dsp",
        "national_id": kw.pop("national_id", NID),
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
    """The profiles ``bank`` received, as the SDK gives them (marks under "disputed")."""
    return [p for r in feed(conf, bank) if (p := profile_of(r)) is not None]


def platform_disputes(conf: Conf) -> list[dict[str, Any]]:
    out = []
    for m in _read_all(conf, topics.disputes(PLATFORM)):
        _, datum = CODEC.decode(m.value() or b"", {DISPUTE})
        out.append(datum | {"_key": (m.key() or b"").decode(), "_raw": m.value() or b""})
    return out


def cli(bootstrap: str, *args: str, stdin: str = NID) -> subprocess.CompletedProcess[str]:
    return run_cli(bootstrap, *args, stdin=stdin)


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
        erase_two_people(conf, private_bootstrap)
    told_all: dict[str, list[str]] = {}
    for d in platform_disputes(conf):  # in order per dispute (its key's partition)
        told_all.setdefault(d["_key"], []).append(d["status"])
    assert told_all == {first: ["OPEN", "CORRECTED"], second: ["OPEN", "NOT_VERIFIED"]}
    check_exactly_once_and_audited(conf)
    report = cli(private_bootstrap, "report", "--national-id", "-", "--json")
    assert report.returncode == 0, report.stderr
    what_is_left = json.loads(report.stdout)
    listed = {d["dispute_id"]: d["status"] for d in what_is_left["disputes"]}
    assert listed == {first: "CORRECTED"}  # the unverified loan's objection went with it
    assert {(ln["platform"], ln["loan_id"]) for ln in what_is_left["loans"]} == {
        (PLATFORM, "L-1")  # negative data: kept for its retention
    }
    assert what_is_left["activity"] == [] and what_is_left["activity_platforms"] == {}
    listing = cli(private_bootstrap, "platforms", "--json")
    assert listing.returncode == 0, listing.stderr
    (mine,) = [p for p in json.loads(listing.stdout)["platforms"] if p["platform"] == PLATFORM]
    assert (mine["disputes_open"], mine["disputes_unanswered"]) == (0, 1)
    assert mine["disputes_closed"] == {"CORRECTED": 1, "NOT_VERIFIED": 1}
    text = cli(private_bootstrap, "platforms")
    assert f"UNANSWERED OBJECTIONS: {PLATFORM}" in text.stdout, text.stdout


def values_of(conf: Conf, topic: str, key: str) -> list[bytes | None]:
    """Every committed value of ``key`` on ``topic``, in order (None: a tombstone)."""
    return [m.value() for m in _read_all(conf, topic) if m.key() == key.encode()]


def erase_two_people(conf: Conf, bootstrap: str) -> None:
    """The disputed borrower (consented banks, a loan with negative data, activity)
    and a second person (activity only, no consent) ask for erasure."""
    rnd = random.Random(7)
    now = datetime.now(UTC)
    other_bid = Pseudonymizer({1: TEST_HMAC_KEY}, 1).borrower_id(OTHER)
    producer = Producer(conf | {"enable.idempotence": True})
    for eid, nid in (("act-1", NID), ("act-2", OTHER)):
        datum = _activity(eid, nid, now - timedelta(hours=2), rnd) | {"kind": "PURCHASE"}
        producer.produce(topics.ingest_activity(PLATFORM), CODEC.encode(ACTIVITY_EVENT, datum))
    assert producer.flush(30) == 0
    publish(conf, loan("o1", "L-1", "500.00", datetime.now(UTC) - timedelta(days=1),
                       type="OVERDUE", days_past_due=40))  # fmt: skip
    eventually(
        lambda: has(
            profiles(conf, "dsp-alpha")[-1]["current_days_past_due"] == 40
            and max(profiles(conf, "dsp-alpha")[-1]["spend_count"].values()) == 1,
            "overdue and activity not delivered",
        ),
        what="alpha sees the overdue loan and the purchase",
    )
    eventually(
        lambda: has(bool(values_of(conf, topics.EXCHANGE_PROFILES, other_bid)), "none"),
        what="the second person has a profile",
    )
    for nid in (NID, OTHER):
        res = cli(bootstrap, "erase", "--national-id", "-", stdin=nid)
        assert res.returncode == 0, res.stderr
        assert "erasure e-" in res.stdout and nid not in res.stdout + res.stderr
    for bank in BANKS[:2]:
        eventually(
            lambda b=bank: has(  # type: ignore[misc]
                max(profiles(conf, b)[-1]["spend_count"].values()) == 0
                and profiles(conf, b)[-1]["open_loans"] == 1,
                f"{b}: activity still there",
            ),
            what=f"{bank} receives the profile without the erased activity",
        )
    for topic in (topics.EXCHANGE_PROFILES, topics.BORROWER_STATE):
        eventually(
            lambda t=topic: has(values_of(conf, t, other_bid)[-1:] == [None], "still there"),  # type: ignore[misc]
            what=f"the second person's latest value on {topic} is a tombstone",
        )
    logged = [
        CODEC.decode(m.value() or b"", {RIGHT_EXERCISED})[1]
        for m in _read_all(conf, topics.RIGHTS_LOG)
    ]
    erased = {d["borrower_id"]: d["detail"] for d in logged if d["action"] == "ERASED"}
    assert set(erased) == {BID, other_bid}
    assert "kept 1 loan(s) under rule keep-negative" in erased[BID]
    assert all(NID not in str(d) and OTHER not in str(d) for d in logged)


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
            if any(m["dispute_id"] == dispute_id for m in r["disputed"])
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

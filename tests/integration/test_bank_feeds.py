"""Issue 5's Done-means on the real broker, through a real ``creditstream worker``.

Three banks subscribe through the SDK: alpha and gamma to borrowers 0-7 (identical
subscriptions: the neutrality pair), beta to 4-11 (overlapping). Platform events flow
in two phases. Between them alpha revokes borrower 1, and beta subscribes borrower 5
with a consent that expires some seconds later (so its only delivery is the snapshot):
the test waits until the worker has dropped that consent from its committed state, a
fact, before phase 2 (``LATE_CONSENT_S`` only needs to outlast answering the request).
Then, from the topics themselves:

* each bank's feed holds exactly what it is entitled to: for a consent that stayed
  valid, every ProfileUpdate version of the borrower exactly once, in order; for the
  revoked one, exactly the versions made before the revocation; for the expired one,
  the snapshot and nothing produced at or after the expiry; nothing for borrowers the
  bank did not subscribe, never another bank's customer_ref;
* every delivered profile is the bank view of that version's ProfileUpdate, and the
  latest update equals the oracle fold of the accepted events;
* every data delivery has exactly one audit record and vice versa; ``audit verify``
  passes and catches a modified copy; ``billing`` totals equal the audit count;
* no raw national ID in any feed or the audit log, no borrower_id in any feed;
* an integrator needs no guess: every feed and audit record names its schema in its
  headers (content type, full name, fingerprint), and fastavro and Avro for Java,
  given only the ``.avsc`` files, decode every feed record to what the codec decodes.

Per-bank event-to-feed latency of alpha and gamma is printed, never asserted.
"""

from __future__ import annotations

import json
import random
import statistics
import subprocess
import urllib.request
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from confluent_kafka import Producer
from prometheus_client.parser import text_string_to_metric_families

from streams import topics
from streams.domain.delivery import ALERT, NO_DATA_YET, PROFILE_UPDATE, SUBSCRIPTION_ACK, bank_view
from streams.domain.privacy import Pseudonymizer
from streams.domain.validation import to_epoch_ms
from streams.runtime.auditlog import read_audit
from streams.runtime.provision import (
    TopicSpec,
    ensure,
    ensure_bank,
    ensure_platform,
    exchange_topics,
)
from streams.runtime.registry import codec_for
from streams.sdk.subscriber import BankSubscriber
from streams.settings import Settings
from streams.stages.borrower.entry import subscriptions_of
from streams.wire.headers import schema_headers
from streams.wire.schemas import AUDIT_RECORD, FEED_RECORD, LOAN_EVENT, fingerprint
from streams.wire.schemas import PROFILE_UPDATE as PROFILE_UPDATE_SCHEMA
from tests.integration.integrator import avro_java, fastavro_decode, normalized
from tests.integration.test_profile_stage import (
    _loan,
    _read_all,
    accepted_by_borrower,
    equals_oracle,
)
from tests.integration.workers import (
    TEST_HMAC_KEY,
    WorkerProcess,
    run_cli,
    running_worker,
    worker_env,
)
from tests.waiting import NotYet, eventually

REPO = Path(__file__).resolve().parents[2]
CODEC = codec_for(None)
HMAC = Pseudonymizer({1: TEST_HMAC_KEY}, 1)
PLATFORM = "bf-lend"
BANKS = {"alpha": range(0, 8), "gamma": range(0, 8), "beta": range(4, 12)}
REVOKED = ("alpha", 1)
EXPIRING = ("beta", 5)
#: The late consent's lifetime: it must outlast answering the subscription (a snapshot
#: produced after the expiry would be refused), so generous for a slow run.
LATE_CONSENT_S = 20
DATA_KINDS = {PROFILE_UPDATE, ALERT, SUBSCRIPTION_ACK}
NIDS = [f"BF{700000 + i}" for i in range(12)]
BIDS = [HMAC.borrower_id(n) for n in NIDS]
Conf = dict[str, Any]


def ref(bank: str, i: int) -> str:
    return f"{bank}-cust-{i}"


def events(phase: int) -> list[tuple[str, bytes]]:
    """Loan events per borrower per phase (distinct ids, each a material change)."""
    rnd = random.Random(phase)
    now = datetime.now(UTC)
    out = []
    for i, nid in enumerate(NIDS):
        for j, typ in enumerate(("APPLICATION", "DISBURSEMENT") if phase == 1 else ("REPAYMENT",)):
            at = now - timedelta(days=10 - 5 * phase, hours=j)
            datum = _loan(f"p{phase}-{i}-{j}", nid, at, typ, rnd)
            datum["loan_id"] = f"L-{i}"
            out.append((topics.ingest_loans(PLATFORM), CODEC.encode(LOAN_EVENT, datum)))
    return out


def produce(conf: Conf, records: list[tuple[str, bytes]]) -> None:
    producer = Producer(conf | {"enable.idempotence": True, "acks": "all"})
    for topic, raw in records:
        producer.produce(topic, raw, b"user")
    assert producer.flush(30) == 0


def feed(conf: Conf, bank: str) -> list[dict[str, Any]]:
    """The bank's raw feed in partition order, each record with its bytes."""
    out = []
    for m in _read_all(conf, topics.feed(bank)):
        _, datum = CODEC.decode(m.value() or b"", {FEED_RECORD})
        out.append(datum | {"_raw": m.value(), "_key": (m.key() or b"").decode()})
    return out


def updates(conf: Conf) -> dict[str, list[dict[str, Any]]]:
    """ProfileUpdates per borrower, in version order, with their production time."""
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for m in _read_all(conf, topics.PROFILE_UPDATES):
        _, datum = CODEC.decode(m.value() or b"", {PROFILE_UPDATE_SCHEMA})
        out[datum["borrower_id"]].append(datum)
    return out


def answered(conf: Conf, wanted: dict[str, set[str]]) -> bool | NotYet:
    for bank, refs in wanted.items():
        got = {r["customer_ref"] for r in feed(conf, bank) if r["profile_version"] == 0}
        got |= {r["customer_ref"] for r in feed(conf, bank) if r["kind"] == SUBSCRIPTION_ACK}
        if not refs <= got:
            return NotYet(f"{bank} lacks answers for {sorted(refs - got)}")
    return True


def consent_dropped(conf: Conf, bank: str, borrower_id: str) -> bool | NotYet:
    """Whether the borrower stage's committed state of ``borrower_id`` held ``bank``'s
    subscription and a later state record no longer does (the consent was dropped)."""
    held = [
        bank in (subscriptions_of(m.value()) if m.value() is not None else {})
        for m in _read_all(conf, topics.BORROWER_STATE)
        if m.key() == borrower_id.encode()  # one borrower: one partition, in order
    ]
    if True not in held:
        return NotYet(f"no state holds {bank}'s subscription")
    return not held[-1] or NotYet(f"{bank}'s subscription is still held")


def caught_up(conf: Conf, events_so_far: int) -> bool | NotYet:
    """Every borrower's latest update has folded ``events_so_far`` events (a version per
    applied event), and each still-consenting bank has that version of its borrowers."""
    ups = updates(conf)
    for i, bid in enumerate(BIDS):
        seen = ups[bid][-1]["profile_version"] if ups.get(bid) else 0
        if seen < events_so_far:
            return NotYet(f"borrower {i} is at version {seen}")
    for bank, members in BANKS.items():
        last = {r["customer_ref"]: r["profile_version"] for r in feed(conf, bank)}
        for i in members:
            if (bank, i) in (REVOKED, EXPIRING):
                continue
            if last.get(ref(bank, i)) != ups[BIDS[i]][-1]["profile_version"]:
                return NotYet(f"{bank} has v{last.get(ref(bank, i))} of borrower {i}")
    return True


def scrape(worker: WorkerProcess) -> dict[tuple[str, str], float]:
    url = f"http://127.0.0.1:{worker.env['CREDITSTREAM_WEB_PORT']}/metrics"
    with urllib.request.urlopen(url, timeout=10) as resp:
        text = resp.read().decode()
    return {
        (s.name, s.labels.get("bank", "")): s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
        if s.name.startswith("creditstream_event_to_feed_latency_seconds_")
        and not s.name.endswith("_bucket")
    }


def cli(bootstrap: str, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(bootstrap, *args)


def test_bank_feeds_are_consented_audited_metered_and_private(private_bootstrap: str) -> None:
    conf: Conf = {"bootstrap.servers": private_bootstrap}
    settings = Settings(bootstrap=private_bootstrap)
    ensure_platform(conf, PLATFORM, 2)
    for bank in BANKS:
        ensure_bank(conf, bank, 2)
    env = worker_env(private_bootstrap, CREDITSTREAM_PROFILE_SPEND_MATERIAL_RATIO="0")
    year = datetime.now(UTC) + timedelta(days=365)
    with running_worker(env) as worker:
        for bank, members in BANKS.items():
            with BankSubscriber(bank, settings) as sub:
                for i in members:
                    if (bank, i) != EXPIRING:
                        sub.subscribe(
                            NIDS[i], ref(bank, i), f"{bank}-consent-{i}", "ACCOUNT_REVIEW", year
                        )
        wanted = {b: {ref(b, i) for i in m if (b, i) != EXPIRING} for b, m in BANKS.items()}
        eventually(lambda: answered(conf, wanted), what="subscriptions answered")
        produce(conf, events(1))
        eventually(lambda: caught_up(conf, 2), what="phase 1 delivered")
        before_revoke = [u["profile_version"] for u in updates(conf)[BIDS[REVOKED[1]]]]
        with BankSubscriber("alpha", settings) as sub:
            sub.revoke(ref(*REVOKED), NIDS[REVOKED[1]], f"alpha-consent-{REVOKED[1]}")
        expires = datetime.now(UTC) + timedelta(seconds=LATE_CONSENT_S)
        with BankSubscriber("beta", settings) as sub:
            sub.subscribe(
                NIDS[EXPIRING[1]], ref(*EXPIRING), "beta-consent-5", "COLLECTIONS", expires
            )
        late_ack = lambda: answered(conf, {"alpha": set(), "beta": {ref(*EXPIRING)}})  # noqa: E731
        eventually(late_ack, what="late subscription answered")
        eventually(
            lambda: any(r["message"] == "revoked" for r in feed(conf, "alpha")),
            what="revocation acknowledged",
        )
        # Phase 2 must come after the expiry: wait until the worker itself dropped the
        # expired consent from its committed state (its prune timer), not for a time.
        eventually(
            lambda: consent_dropped(conf, "beta", BIDS[EXPIRING[1]]),
            what="the worker dropped beta's expired consent of borrower 5",
            timeout=LATE_CONSENT_S + 90,
            interval=1,
        )
        assert datetime.now(UTC) >= expires
        produce(conf, events(2))
        eventually(lambda: caught_up(conf, 3), what="phase 2 delivered")
        latency = scrape(worker)
        assert worker.alive(), worker.log()
    check_entitlements(conf, before_revoke, to_epoch_ms(expires))
    check_oracle(conf)
    audit_count = check_audit(conf, private_bootstrap)
    check_privacy(conf)
    check_integrator_view(conf)
    report_latency(conf, latency)
    assert audit_count > 0


def check_entitlements(conf: Conf, before_revoke: list[int], expires_ms: int) -> None:
    ups = updates(conf)
    all_refs = {ref(b, i) for b, m in BANKS.items() for i in m}
    for bank, members in BANKS.items():
        records = feed(conf, bank)
        mine = {ref(bank, i) for i in members}
        assert {r["customer_ref"] for r in records} <= mine, "foreign or unsubscribed ref"
        assert {r["_key"] for r in records} <= mine
        for i in members:
            r_ = ref(bank, i)
            mine_recs = [r for r in records if r["customer_ref"] == r_]
            data = [r for r in mine_recs if r["kind"] in DATA_KINDS and r["profile"] is not None]
            versions = [r["profile_version"] for r in data]
            all_versions = [u["profile_version"] for u in ups[BIDS[i]]]
            by_version = {u["profile_version"]: u for u in ups[BIDS[i]]}
            for r in data:  # each delivered profile is that version's update, as banks see it
                want = bank_view(by_version[r["profile_version"]]["profile"])
                assert bank_view(r["profile"]) == want and r["disputed"] == []
            if (bank, i) == REVOKED:
                assert versions == before_revoke, (versions, before_revoke)
                assert versions != all_versions  # phase 2 happened and was not delivered
            elif (bank, i) == EXPIRING:
                snapshot = [r for r in data if r["kind"] == SUBSCRIPTION_ACK]
                assert len(snapshot) == 1 and snapshot[0]["profile_version"] == before_revoke[-1]
                assert all(to_epoch_ms(r["produced_at"]) < expires_ms for r in data)
                assert versions == [before_revoke[-1]], versions
            else:
                assert mine_recs[0]["kind"] == NO_DATA_YET  # subscribed before any data
                assert versions == all_versions, (bank, i, versions, all_versions)
        for r in records:
            assert r["customer_ref"] in all_refs


def check_oracle(conf: Conf) -> None:
    ups = updates(conf)
    by_bid = accepted_by_borrower(conf)
    for bid in BIDS:
        assert equals_oracle(ups[bid][-1]["profile"], bid, by_bid[bid]), bid[:8]


def check_audit(conf: Conf, bootstrap: str) -> int:
    entries = list(read_audit(conf))
    records = [e.datum for e in entries if e.datum is not None]
    assert len(records) == len(entries)
    audited: dict[tuple[str, str, int], int] = defaultdict(int)
    for d in records:
        audited[(d["bank"], d["customer_ref"], d["profile_version"])] += 1
        i = int(d["customer_ref"].rsplit("-", 1)[1])
        assert d["borrower_id"] == BIDS[i] and d["feed_topic"] == topics.feed(d["bank"])
    delivered = [
        (bank, r["customer_ref"], r["profile_version"])
        for bank in BANKS
        for r in feed(conf, bank)
        if r["kind"] in DATA_KINDS and r["profile"] is not None
    ]
    assert sorted(delivered) == sorted(audited) and set(audited.values()) == {1}
    ok = cli(bootstrap, "audit", "verify")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    tampered = "audit-tampered"
    spec = next(s for s in exchange_topics(2) if s.name == topics.EXCHANGE_AUDIT)
    ensure(conf, [TopicSpec(tampered, 2, spec.config)])
    producer = Producer(conf | {"enable.idempotence": True})
    victim = len(entries) // 2
    for n, e in enumerate(entries):
        datum = dict(e.datum or {})
        if n == victim:
            datum["purpose"] = (
                "FRAUD_PREVENTION" if datum["purpose"] != "FRAUD_PREVENTION" else "COLLECTIONS"
            )
        value = CODEC.encode(AUDIT_RECORD, datum)
        producer.produce(tampered, value, datum["borrower_id"].encode(), partition=e.partition)
    assert producer.flush(30) == 0
    bad = cli(bootstrap, "audit", "verify", "--topic", tampered)
    assert bad.returncode == 1 and "MODIFIED" in bad.stdout, bad.stdout + bad.stderr
    months = {
        datetime.fromtimestamp(d["delivered_at"] / 1000, UTC).strftime("%Y-%m") for d in records
    }
    billed = 0
    for month in months:
        out = cli(bootstrap, "billing", "--month", month, "--json")
        assert out.returncode == 0, out.stderr
        report = json.loads(out.stdout)
        billed += report["deliveries"]
        assert report["deliveries"] == sum(st["deliveries"] for st in report["statements"])
    assert billed == len(records)
    return len(records)


def check_privacy(conf: Conf) -> None:
    forms = {n for nid in NIDS for n in (nid, nid.lower(), nid[2:])}
    raw_feeds = [r["_raw"] for bank in BANKS for r in feed(conf, bank)]
    raw_audit = [m.value() or b"" for m in _read_all(conf, topics.EXCHANGE_AUDIT)]
    for raw in raw_feeds + raw_audit:
        assert not any(f.encode() in raw for f in forms), "raw national ID leaked"
    for raw in raw_feeds:
        assert not any(bid.encode() in raw for bid in BIDS), "borrower_id in a feed"


def check_integrator_view(conf: Conf) -> None:
    for topic, schema in [(topics.feed(b), FEED_RECORD) for b in BANKS] + [
        (topics.EXCHANGE_AUDIT, AUDIT_RECORD)
    ]:
        for m in _read_all(conf, topic):
            assert dict(m.headers() or []) == dict(schema_headers(schema)), (topic, m.headers())
    raw = [r["_raw"] for bank in BANKS for r in feed(conf, bank)]
    ours = [CODEC.decode(v, {FEED_RECORD})[1] for v in raw]
    assert {r["kind"] for r in ours} >= {"SUBSCRIPTION_ACK", "PROFILE_UPDATE"}
    assert fastavro_decode(raw, FEED_RECORD) == ours
    fingerprints, by_java = avro_java(raw, FEED_RECORD)
    assert fingerprints[FEED_RECORD] == fingerprint(FEED_RECORD).hex()
    assert [normalized(r) for r in by_java] == [normalized(r) for r in ours]
    profiles = [r["profile"] for r in ours if r["profile"] is not None]
    assert profiles and all(isinstance(p, dict) for p in profiles)  # a record, not JSON


def report_latency(conf: Conf, scraped: dict[tuple[str, str], float]) -> None:
    """Neutrality: alpha and gamma hold identical subscriptions (printed, not asserted)."""
    print("\nper-bank event-to-feed latency (same deliveries, from FeedRecord times):")
    for bank in ("alpha", "gamma"):
        ms = [
            to_epoch_ms(r["produced_at"]) - to_epoch_ms(r["ingested_at"])
            for r in feed(conf, bank)
            if r["ingested_at"] is not None and r["customer_ref"] != ref(*REVOKED)
        ]
        q = statistics.quantiles(ms, n=20) if len(ms) > 1 else ms * 19
        print(
            f"  {bank}: n={len(ms)} median {statistics.median(ms):.0f} ms, "
            f"p95 {q[18]:.0f} ms, max {max(ms)} ms"
        )
        total = scraped.get(("creditstream_event_to_feed_latency_seconds_sum", bank), 0.0)
        count = scraped.get(("creditstream_event_to_feed_latency_seconds_count", bank), 0.0)
        if count:
            print(f"  {bank} /metrics histogram: n={count:.0f} mean {1000 * total / count:.0f} ms")

"""Ingress -> borrower stage through a real ``creditstream worker``: equal to the oracle.

The oracle input is what ingress accepted (read back from exchange.events), so the
comparison covers the borrower stage, not ingress's own rejects. Read time: the stage
snapshots at its batch time, so each check evaluates the oracle *as of the same time*:

* the state on exchange.borrower-state, snapshotted now, equals the oracle as of now
  (every field, version included);
* the latest profile on exchange.profiles equals the oracle as of that profile's own
  ``as_of`` in every material field (provenance such as version and last event moves
  without a material change, so it is not re-emitted; the test worker treats every
  spend move as material, ratio 0, so nothing else can lag);
* versions on exchange.profile-updates strictly grow per borrower, also across SIGKILL.
"""

from __future__ import annotations

import random
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, Message, Producer, TopicPartition

from streams import topics
from streams.domain.privacy import Pseudonymizer
from streams.domain.profile.model import BorrowerProfile
from streams.domain.profile.oracle import fold
from streams.domain.profile.output import profile_to_dict
from streams.domain.profile.view import snapshot
from streams.domain.profile.windows import DEFAULT_CONFIG, PROVENANCE_FIELDS
from streams.domain.validation import from_avro, to_epoch_ms
from streams.runtime.provision import ensure_platform
from streams.runtime.registry import codec_for
from streams.stages.borrower.entry import borrower_entry_from_bytes
from streams.wire.avrojson import datum_to_json
from streams.wire.events import ExchangeEvent
from streams.wire.schemas import (
    ACTIVITY_EVENT,
    BORROWER_PROFILE,
    EXCHANGE_EVENT,
    LOAN_EVENT,
    PROFILE_UPDATE,
)
from tests.integration.kafka_helpers import unique
from tests.integration.workers import TEST_HMAC_KEY, running_worker, worker_env
from tests.waiting import NotYet, eventually

CODEC = codec_for(None)
HMAC = Pseudonymizer({1: TEST_HMAC_KEY}, 1)
# Avro names of the provenance fields (not re-emitted on their own).
_AVRO_NAME = {"as_of_ms": "as_of", "last_event_ms": "last_event"}
PROVENANCE = {_AVRO_NAME.get(f, f) for f in PROVENANCE_FIELDS}
LOAN_TYPES = ["APPLICATION", "DISBURSEMENT", "REPAYMENT", "OVERDUE", "REPAYMENT", "CLOSURE"]


def _scenario(tag: str, borrowers: int, seed: int) -> list[tuple[str, bytes]]:
    """(topic, encoded record) for a few hundred events, shuffled (out of order), with
    re-sends, same event_ids on two platforms, and corrections."""
    rnd = random.Random(seed)
    now = datetime.now(UTC)
    plats = [f"{tag}-lend", f"{tag}-shop"]
    out: list[tuple[str, bytes]] = []
    for b in range(borrowers):
        nid = f"{tag.upper()[:2]}{100000 + b}"
        base = now - timedelta(days=rnd.randrange(20, 80))
        for i, typ in enumerate(LOAN_TYPES[: rnd.randrange(2, len(LOAN_TYPES) + 1)]):
            datum = _loan(f"l{b}-{i}", nid, base + timedelta(days=7 * i), typ, rnd)
            out.append((topics.ingest_loans(plats[0]), CODEC.encode(LOAN_EVENT, datum)))
            if typ == "DISBURSEMENT" and rnd.random() < 0.5:
                fix = _loan(
                    f"c{b}-{i}", nid, base + timedelta(days=7 * i, hours=1), "CORRECTION", rnd
                )
                fix["corrects_event_id"] = f"l{b}-{i}"
                fix["principal_outstanding"] = Decimal("777.00")
                out.append((topics.ingest_loans(plats[0]), CODEC.encode(LOAN_EVENT, fix)))
        for i in range(rnd.randrange(2, 8)):
            t = now - timedelta(days=rnd.randrange(0, 85), minutes=rnd.randrange(1000))
            datum = _activity(f"a{b}-{i}", nid, t, rnd)
            out.append((topics.ingest_activity(plats[1]), CODEC.encode(ACTIVITY_EVENT, datum)))
            # The same event_id from another platform is a different event.
            if rnd.random() < 0.2:
                out.append((topics.ingest_activity(plats[0]), CODEC.encode(ACTIVITY_EVENT, datum)))
    out += rnd.sample(out, len(out) // 10)  # platform re-sends: ingress rejects them
    rnd.shuffle(out)
    return out


def _loan(eid: str, nid: str, t: datetime, typ: str, rnd: random.Random) -> dict[str, Any]:
    overdue = typ == "OVERDUE"
    principal = "0.00" if typ == "CLOSURE" else f"{rnd.randrange(100, 2000)}.00"
    return {
        "event_id": eid,
        "occurred_at": t,
        "user_key": f"u-{nid}",
        "national_id": nid,
        "loan_id": "L-1",
        "lender": rnd.choice(["Lender Oy", "Credit AB", "Quick Ltd"]),
        "product": "CASH_LOAN",
        "type": typ,
        "amount": Decimal("1000.00"),
        "currency": "EUR",
        "principal_outstanding": Decimal(principal),
        "days_past_due": rnd.choice([35, 65]) if overdue else 0,
        "due_date": None,
        "term_months": 12,
        "corrects_event_id": None,
    }


def _activity(eid: str, nid: str, t: datetime, rnd: random.Random) -> dict[str, Any]:
    return {
        "event_id": eid,
        "occurred_at": t,
        "user_key": f"u-{nid}",
        "national_id": nid,
        "kind": rnd.choice(["PURCHASE", "TRAVEL_BOOKING", "FOOD_ORDER"]),
        "amount": Decimal(f"{rnd.randrange(1, 300)}.{rnd.randrange(100):02d}"),
        "currency": "EUR",
        "category": "general",
    }


def _produce(conf: dict[str, Any], records: list[tuple[str, bytes]]) -> None:
    producer = Producer(conf | {"enable.idempotence": True, "acks": "all"})
    for topic, raw in records:
        producer.produce(topic, raw, b"k")
    assert producer.flush(30) == 0


def _read_all(conf: dict[str, Any], topic: str, timeout: float = 60) -> list[Message]:
    """Every committed record of ``topic`` up to its end offsets at call time
    (``consume_all`` stops at the first quiet poll, which can be mid-topic)."""
    consumer = Consumer(
        conf
        | {"group.id": unique("read"), "enable.auto.commit": False}
        | {"isolation.level": "read_committed"}
    )
    meta = consumer.list_topics(topic, timeout=10).topics[topic]
    ends = {
        p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
        for p in meta.partitions
    }
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in ends])
    out: list[Message] = []

    def at_end() -> bool | NotYet:
        got = [m for m in consumer.consume(1000, timeout=1.0) if m.error() is None]
        out.extend(got)
        positions = consumer.position([TopicPartition(topic, p) for p in ends])
        # Transactional topics end with a commit marker the position may stop before.
        done = all(
            tp.offset >= ends[tp.partition] - 1 or not ends[tp.partition] for tp in positions
        )
        return (done and not got) or NotYet(f"{len(out)} records read, ends {ends}")

    try:
        eventually(at_end, what=f"{topic} read to its end", timeout=timeout, interval=0)
    finally:
        consumer.close()
    return out


def _latest(msgs: list[Message]) -> dict[str, Message]:
    return {(m.key() or b"").decode(): m for m in msgs}


def accepted_by_borrower(conf: dict[str, Any]) -> dict[str, list[ExchangeEvent]]:
    """Every committed event on exchange.events, per borrower_id, in log order."""
    out: dict[str, list[ExchangeEvent]] = defaultdict(list)
    for m in _read_all(conf, topics.EXCHANGE_EVENTS):
        event = from_avro(CODEC.decode(m.value() or b"", {EXCHANGE_EVENT})[1])
        out[event.borrower_id].append(event)
    return out


def equals_oracle(profile: dict[str, Any], bid: str, events: list[ExchangeEvent]) -> bool:
    """Whether a BorrowerProfile datum equals the oracle's fold of ``events`` as of the
    profile's own time (provenance fields aside)."""
    want = fold(events, DEFAULT_CONFIG, to_epoch_ms(profile["as_of"]))[bid]
    strip = lambda d: {k: v for k, v in d.items() if k not in PROVENANCE}  # noqa: E731
    return bool(strip(datum_to_json(profile)) == strip(profile_to_dict(want)))


def _accepted(conf: dict[str, Any], ours: set[str]) -> list[ExchangeEvent]:
    by_bid = accepted_by_borrower(conf)
    return [e for bid in ours for e in by_bid.get(bid, [])]


def _state_matches(conf: dict[str, Any], ours: set[str], tag: str, produced: int) -> bool | NotYet:
    """Whether ingress has judged every produced record and every borrower's committed
    state equals the oracle over the accepted ones, now (and why not)."""
    events = _accepted(conf, ours)
    rejected = sum(len(_read_all(conf, topics.rejected(f"{tag}-{k}"))) for k in ("lend", "shop"))
    if len(events) + rejected < produced:
        return NotYet(f"ingress judged {len(events) + rejected} of {produced} records")
    now = int(time.time() * 1000)
    expected = fold(events, DEFAULT_CONFIG, now)
    if set(expected) != ours:
        return NotYet(f"events of {len(expected)} of {len(ours)} borrowers accepted")
    states = _latest(_read_all(conf, topics.BORROWER_STATE))
    for bid, want in expected.items():
        msg = states.get(bid)
        if msg is None:
            return NotYet(f"no state for {bid[:8]}")
        got = snapshot(borrower_entry_from_bytes(msg.value() or b"").state, now, DEFAULT_CONFIG)
        if profile_to_dict(got) != profile_to_dict(want):
            return NotYet(f"{bid[:8]}: {profile_to_dict(got)} != {profile_to_dict(want)}")
    return True


def _converged(check: Callable[[], bool | NotYet], timeout: float) -> None:
    eventually(check, what="profiles converge", timeout=timeout, interval=2)


def _assert_outputs(conf: dict[str, Any], ours: set[str]) -> None:
    events = _accepted(conf, ours)
    assert len(events) > 6 * len(ours)  # a few hundred events really went through
    by_borrower: dict[str, list[ExchangeEvent]] = defaultdict(list)
    for e in events:
        by_borrower[e.borrower_id].append(e)
    profiles = _latest(_read_all(conf, topics.EXCHANGE_PROFILES))
    for bid, evs in by_borrower.items():
        _, datum = CODEC.decode(profiles[bid].value() or b"", {BORROWER_PROFILE})
        got = datum_to_json(datum)
        as_of = int(datum["as_of"].timestamp() * 1000)
        want: BorrowerProfile = fold(evs, DEFAULT_CONFIG, as_of)[bid]
        expected = profile_to_dict(want)
        assert got["profile_version"] <= want.profile_version
        strip = lambda d: {k: v for k, v in d.items() if k not in PROVENANCE}  # noqa: E731
        assert strip(got) == strip(expected), bid
    versions: dict[str, list[int]] = defaultdict(list)
    for m in _read_all(conf, topics.PROFILE_UPDATES):
        name, update = CODEC.decode(m.value() or b"")
        assert name == PROFILE_UPDATE
        if update["borrower_id"] in ours:
            versions[update["borrower_id"]].append(update["profile_version"])
    assert set(versions) == set(by_borrower)
    for bid, seq in versions.items():
        assert seq == sorted(set(seq)), f"{bid[:8]} versions went backwards or repeated: {seq}"


def _borrowers(tag: str, n: int) -> set[str]:
    return {HMAC.borrower_id(f"{tag.upper()[:2]}{100000 + b}") for b in range(n)}


def _env(bootstrap: str) -> dict[str, str]:
    return worker_env(
        bootstrap,
        CREDITSTREAM_PROFILE_SPEND_MATERIAL_RATIO="0",
        CREDITSTREAM_BORROWER_BATCH_MAX="40",
        CREDITSTREAM_INGRESS_BATCH_MAX="40",
    )


def test_profiles_equal_the_oracle(private_bootstrap: str) -> None:
    conf = {"bootstrap.servers": private_bootstrap}
    tag, n = "ab", 30
    for plat in (f"{tag}-lend", f"{tag}-shop"):
        ensure_platform(conf, plat, 2)
    records = _scenario(tag, n, seed=1)
    _produce(conf, records)
    ours = _borrowers(tag, n)
    with running_worker(_env(private_bootstrap)) as worker:
        _converged(lambda: _state_matches(conf, ours, tag, len(records)), timeout=120)
        assert worker.alive(), worker.log()
    _assert_outputs(conf, ours)


def test_profiles_survive_sigkill_mid_run(private_bootstrap: str) -> None:
    conf = {"bootstrap.servers": private_bootstrap}
    tag, n = "cd", 40
    for plat in (f"{tag}-lend", f"{tag}-shop"):
        ensure_platform(conf, plat, 2)
    records = _scenario(tag, n, seed=2)
    half = len(records) // 2
    ours = _borrowers(tag, n)
    env = _env(private_bootstrap)
    _produce(conf, records[:half])
    with running_worker(env) as worker:

        def out() -> bool | NotYet:
            msgs = _read_all(conf, topics.PROFILE_UPDATES)
            seen = sum(1 for m in msgs if (m.key() or b"").decode() in ours)
            return seen >= 5 or NotYet(f"{seen} profile updates")

        eventually(out, what="some profiles are out: mid-run")
        _produce(conf, records[half:])
        worker.kill()
    with running_worker(env) as worker:
        _converged(lambda: _state_matches(conf, ours, tag, len(records)), timeout=150)
        assert worker.alive(), worker.log()
    _assert_outputs(conf, ours)

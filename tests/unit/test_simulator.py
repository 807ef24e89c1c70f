"""The load simulator: deterministic, realistic, and every bad record gets its reason.

``ingress_reason`` models what the ingress must do with a record (size check, decode
expecting the topic's schema, validate, dedup per platform) using the real codec and
validation, so the reasons the simulator promises are checked here without a broker.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.clock import DAY_MS
from streams.domain.privacy import is_valid_national_id, normalize_national_id
from streams.domain.validation import InvalidEventError, check_size, validate_event
from streams.errors import ConfigError, DecodeError
from streams.simulator.borrower import Persona
from streams.simulator.load import BadKind, SimConfig, SimRecord, generate, platform_names
from streams.wire.codec import SingleObjectCodec
from streams.wire.rejects import Reason
from streams.wire.schemas import ACTIVITY_EVENT, LOAN_EVENT

NOW_MS = 1_788_220_800_000  # 2026-09-01T00:00:00Z
CODEC = SingleObjectCodec()
HOUR_MS = 3_600_000


def run(**kw: Any) -> list[SimRecord]:
    return list(generate(SimConfig(now_ms=NOW_MS, **kw), CODEC.encode))


def ingress_reason(
    record: SimRecord, seen: set[tuple[str, str]], now_ms: int = NOW_MS
) -> Reason | None:
    """What the ingress must answer for a record: None when it is accepted."""
    raw = (
        record.raw
        if record.raw is not None
        else CODEC.encode(record.schema_name, record.datum or {})
    )
    expected = {LOAN_EVENT} if record.topic_kind == "loans" else {ACTIVITY_EVENT}
    try:
        check_size(raw)
        name, datum = CODEC.decode(raw, expected)
        validate_event(name, datum, now_ms)
    except (DecodeError, InvalidEventError) as exc:
        return Reason(exc.reason)
    key = (record.platform, str(datum["event_id"]))
    if key in seen:
        return Reason.DUPLICATE_EVENT
    seen.add(key)
    return None


def test_same_seed_same_records_other_seed_other_records() -> None:
    first = run(events=600, borrowers=40, seed=11, bad_share=0.05)
    assert first == run(events=600, borrowers=40, seed=11, bad_share=0.05)
    other = run(events=600, borrowers=40, seed=12, bad_share=0.05)
    assert [r.datum for r in other] != [r.datum for r in first]


def test_exact_count_time_order_and_period() -> None:
    config = SimConfig(now_ms=NOW_MS, events=1500, borrowers=60, period_ms=90 * DAY_MS)
    records = list(generate(config, CODEC.encode))
    assert len(records) == 1500
    times = [r.at_ms for r in records]
    assert times == sorted(times)
    assert times[0] >= NOW_MS - 90 * DAY_MS and times[-1] <= NOW_MS
    # Spread over the period, not bunched at one end: every sixth holds some records.
    sixths = Counter((t - times[0]) * 6 // (NOW_MS - times[0] + 1) for t in times)
    assert all(sixths[i] > 1500 / 6 / 3 for i in range(6))


def test_every_reason_is_covered_and_each_bad_record_gets_its_reason() -> None:
    records = run(events=3000, borrowers=80, bad_share=0.01, seed=5)
    bad = [r for r in records if r.bad is not None]
    assert len(bad) == 30
    assert {r.bad.reason for r in bad if r.bad} == set(Reason)
    seen: set[tuple[str, str]] = set()
    for record in records:
        want = None if record.bad is None else record.bad.reason
        assert ingress_reason(record, seen) == want, record.bad


def test_every_reason_has_a_bad_kind() -> None:
    assert {kind.reason for kind in BadKind} == set(Reason)


def test_duplicates_repeat_an_earlier_good_records_bytes_and_key() -> None:
    records = run(events=4000, borrowers=80, bad_share=0.05, seed=3)
    goods: dict[tuple[str, str], SimRecord] = {}
    dups = 0
    for record in records:
        if record.bad is None:
            goods[(record.platform, record.event_id or "")] = record
        elif record.bad is BadKind.DUPLICATE_EVENT:
            dups += 1
            orig = goods[(record.platform, record.event_id or "")]
            assert record.key == orig.key and record.topic == orig.topic
            assert record.raw == CODEC.encode(orig.schema_name, orig.datum or {})
    assert dups > 0


def test_good_records_stay_valid_for_a_month_after_now() -> None:
    records = run(events=800, borrowers=40, bad_share=0.0, seed=9)
    seen: set[tuple[str, str]] = set()
    assert all(ingress_reason(r, seen, NOW_MS + 29 * DAY_MS) is None for r in records)


def test_personas_and_their_behaviour_are_present() -> None:
    records = [r for r in run(events=4000, borrowers=60, seed=2) if r.bad is None]
    assert {r.persona for r in records} == set(Persona)
    by_person: dict[str, list[SimRecord]] = defaultdict(list)
    for r in records:
        assert r.datum is not None
        by_person[normalize_national_id(r.datum["national_id"])].append(r)

    def loans(rs: list[SimRecord], typ: str) -> list[SimRecord]:
        return [r for r in rs if r.datum and r.datum.get("type") == typ]

    # Slipping: growing days past due on one loan, then default and write-off.
    slipped = 0
    for rs in by_person.values():
        per_loan: dict[str, list[Any]] = defaultdict(list)
        for r in rs:
            if r.datum and r.datum.get("type") in ("OVERDUE", "DEFAULT", "WRITE_OFF"):
                per_loan[r.datum["loan_id"]].append(r.datum)
        for seq in per_loan.values():
            dpd = [d["days_past_due"] for d in seq if d["type"] == "OVERDUE"]
            types = [d["type"] for d in seq]
            if len(dpd) >= 2 and types[-2:] == ["DEFAULT", "WRITE_OFF"]:
                assert dpd == sorted(dpd) and dpd[0] < dpd[-1]
                slipped += 1
    assert slipped > 0
    # Fraud-like bursts: applications on >= 3 platforms within 6 hours.
    bursts = 0
    for rs in by_person.values():
        apps = sorted(loans(rs, "APPLICATION"), key=lambda r: r.at_ms)
        for i, a in enumerate(apps):
            window = {b.platform for b in apps[i:] if b.at_ms - a.at_ms <= 6 * HOUR_MS}
            if len(window) >= 3:
                bursts += 1
                break
    assert bursts > 0
    # Multi-platform borrowers: money lent on >= 3 platforms.
    assert any(
        len({r.platform for r in loans(rs, "DISBURSEMENT")}) >= 3 for rs in by_person.values()
    )
    kinds = Counter(r.datum.get("kind") for r in records if r.datum)
    assert kinds["PURCHASE"] and kinds["TRAVEL_BOOKING"] and kinds["FOOD_ORDER"] and kinds["RIDE"]


def test_identity_one_valid_national_id_per_borrower_one_key_per_platform() -> None:
    records = [r for r in run(events=2000, borrowers=50, seed=4) if r.bad is None]
    key_to_person: dict[tuple[str, str], str] = {}
    person_keys: dict[str, dict[str, str]] = defaultdict(dict)
    for r in records:
        assert r.datum is not None
        person = normalize_national_id(r.datum["national_id"])
        assert is_valid_national_id(person)
        assert r.key == r.datum["user_key"]
        assert key_to_person.setdefault((r.platform, r.key), person) == person
        assert person_keys[person].setdefault(r.platform, r.key) == r.key
    # Same person, different platforms: the user keys are unrelated.
    multi = [keys for keys in person_keys.values() if len(keys) > 1]
    assert multi and all(len(set(keys.values())) == len(keys) for keys in multi)
    # Raw ID formats differ between platforms; only normalization links them.
    raw_forms = defaultdict(set)
    for r in records:
        if r.datum:
            raw_forms[normalize_national_id(r.datum["national_id"])].add(r.datum["national_id"])
    assert any(len(forms) > 1 for forms in raw_forms.values())


def test_unknown_schema_under_confluent_framing_uses_an_unknown_id() -> None:
    def confluent(name: str, datum: Any) -> bytes:
        return b"\x00\x00\x00\x00\x07" + CODEC.encode(name, datum)[10:]

    config = SimConfig(now_ms=NOW_MS, events=1400, borrowers=40, bad_share=0.05, seed=8)
    unknown = [r for r in generate(config, confluent) if r.bad is BadKind.UNKNOWN_SCHEMA]
    assert unknown
    for r in unknown:
        assert r.raw is not None and r.raw[:1] == b"\x00" and r.raw[1:5] != b"\x00\x00\x00\x07"


def test_platform_names_and_prefix() -> None:
    names = platform_names(SimConfig(now_ms=NOW_MS, platforms=8, platform_prefix="t1-"))
    assert len(names) == len(set(names)) == 8
    assert names[:2] == ["t1-shopmart", "t1-paywave"]
    records = run(events=300, borrowers=20, platforms=8, platform_prefix="t1-")
    assert {r.platform for r in records} <= set(names)


@pytest.mark.parametrize(
    "kw",
    [
        {"bad_share": 0.6},
        {"borrowers": 0},
        {"platforms": 0},
        {"platform_prefix": "Bad_"},
        {"period_ms": 2000 * DAY_MS},
    ],
)
def test_impossible_configs_are_refused(kw: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        SimConfig(now_ms=NOW_MS, **kw)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    borrowers=st.integers(1, 30),
    events=st.integers(0, 400),
    bad_share=st.sampled_from([0.0, 0.01, 0.1, 0.5]),
    platforms=st.integers(1, 8),
)
def test_invariants_hold_for_any_config(
    seed: int, borrowers: int, events: int, bad_share: float, platforms: int
) -> None:
    records = run(
        seed=seed, borrowers=borrowers, events=events, bad_share=bad_share, platforms=platforms
    )
    assert len(records) == events
    assert sum(r.bad is not None for r in records) == round(events * bad_share)
    assert [r.at_ms for r in records] == sorted(r.at_ms for r in records)
    seen: set[tuple[str, str]] = set()
    for record in records:
        want = None if record.bad is None else record.bad.reason
        assert ingress_reason(record, seen) == want

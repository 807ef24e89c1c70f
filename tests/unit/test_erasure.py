"""Erasure (pure): what the rule removes and keeps, and what the borrower batch writes.

Activity always goes; credit data by the configured rule (loans with negative data
kept under ``keep-negative``). Banks holding consent receive the profile without what
went, or ``ERASED`` when nothing is left (no profile, no audit record); an erased
borrower without consent leaves no state and no profile behind; the rights log records
the erasure without the data.
"""

from __future__ import annotations

from streams.domain.delivery import ALERT, ERASED, NO_DATA_YET, PROFILE_UPDATE
from streams.domain.profile.fold import apply
from streams.domain.profile.state import new_state
from streams.domain.profile.windows import DEFAULT_CONFIG
from streams.domain.rights import ErasureRequest, RightsPolicy, erase, holds_data
from streams.stages.borrower.store import BorrowerStore
from streams.wire.events import LoanEventType
from streams.wire.schemas import RIGHT_EXERCISED
from tests.unit.profile_factories import BORROWER, DAY, T0, activity_event, loan_event
from tests.unit.test_disputes import CODEC, NOW, feed, objection, profile_json, run, sub

CLEAN = loan_event("e1", T0 + DAY, LoanEventType.DISBURSEMENT, loan_id="L1", platform="p1")
LATE = loan_event("e2", T0 + DAY, LoanEventType.DISBURSEMENT, loan_id="L2", platform="p2")
OVERDUE = loan_event("e3", T0 + 5 * DAY, LoanEventType.OVERDUE, loan_id="L2", platform="p2", dpd=40)
SPEND = activity_event("a1", NOW - DAY)


def erasure(rid: str = "x1") -> ErasureRequest:
    return ErasureRequest(rid, BORROWER, "operator", NOW)


def test_keep_negative_keeps_the_delinquent_loan_and_removes_the_rest() -> None:
    state = new_state(BORROWER)
    for ev in (CLEAN, LATE, OVERDUE, SPEND):
        apply(state, ev, DEFAULT_CONFIG)
    version = state.version
    done = erase(state, "keep-negative")
    assert (done.loans_removed, done.loans_kept, done.activity_days_removed) == (1, 1, 1)
    assert list(state.loans) == ["p2\0L2"] and not state.act_days and not state.act_platforms
    assert state.platforms == {"p2": T0 + 5 * DAY} and state.first_seen == T0 + DAY
    assert state.version == version + 1 and holds_data(state)
    assert "kept 1 loan(s) under rule keep-negative" in done.describe("keep-negative")


def test_the_other_rules_keep_every_loan_or_none() -> None:
    for rule, kept in (("keep-credit", 2), ("erase-all", 0)):
        state = new_state(BORROWER)
        for ev in (CLEAN, LATE, OVERDUE, SPEND):
            apply(state, ev, DEFAULT_CONFIG)
        done = erase(state, rule)  # type: ignore[arg-type]
        assert len(state.loans) == kept == done.loans_kept and not state.act_days
    assert not holds_data(state) and state.platforms == {} and state.first_seen == -1


def test_consented_banks_get_the_profile_without_what_went() -> None:
    store = BorrowerStore(10)
    run(store, requests=[sub("a", "ra")])
    before = run(store, events=[CLEAN, LATE, OVERDUE, SPEND])
    assert [k for _, k, _, _ in feed(before)] == [ALERT]
    out = run(store, objections=[erasure()])
    assert feed(out) == [("a", PROFILE_UPDATE, 5, True)]  # four events, then the erasure
    left = profile_json(out, "a")
    assert left["open_loans"] == 1 and left["contributing_platforms"] == ["p2"]
    assert all(v == 0 for v in left["spend_count"].values())
    ((logged),) = out.rights_log
    CODEC.encode(RIGHT_EXERCISED, logged)
    assert (logged["action"], logged["request_id"]) == ("ERASED", "x1")
    assert out.tombstones == []


def test_erased_to_nothing_a_consented_bank_gets_erased_and_a_newcomer_no_data() -> None:
    store = BorrowerStore(10)
    run(store, requests=[sub("a", "ra")])
    run(store, events=[CLEAN, SPEND])
    out = run(store, objections=[erasure()], policy=RightsPolicy(erasure="erase-all"))
    ((_, d),) = out.deliveries
    assert (d.record["kind"], d.record["profile"], d.audit) == (ERASED, None, None)
    assert out.tombstones == [BORROWER] and out.emits[0].update is None
    ((_, record, _),) = out.states.values()
    assert record is not None  # bank a's consent is kept: so is the entry
    out = run(store, requests=[sub("b", "rb")])
    assert [k for _, k, _, _ in feed(out)] == [NO_DATA_YET]


def test_erased_to_nothing_without_consent_leaves_no_state() -> None:
    store = BorrowerStore(10)
    run(store, events=[CLEAN, SPEND])
    run(store, objections=[objection()])  # an open objection goes with the data
    out = run(store, objections=[erasure()], policy=RightsPolicy(erasure="erase-all"))
    ((_, record, due),) = out.states.values()
    assert record is None and due is None and out.tombstones == [BORROWER]
    entry = store.get(0, BORROWER)
    assert entry.state.version == 0 and entry.rights is None and entry.last is None
    # What comes later starts a new profile.
    out = run(store, events=[loan_event("e9", T0 + 9 * DAY, LoanEventType.APPLICATION)])
    assert out.emits[0].version == 1

"""Stale arrivals (older than the borrower's newest event by more than a horizon) are
applied and counted, whatever the arrival order; their duplicates are not (issue item 2)."""

from __future__ import annotations

import marshal

from streams.domain.profile.fold import apply
from streams.domain.profile.model import BorrowerProfile
from streams.domain.profile.oracle import fold
from streams.domain.profile.state import (
    ProfileState,
    new_state,
    state_fields,
    state_from_bytes,
    state_to_bytes,
)
from streams.domain.profile.view import snapshot
from streams.domain.profile.windows import DEFAULT_CONFIG
from streams.stages.borrower.records import FORMAT as RECORD_FORMAT
from streams.stages.borrower.records import profile_entry_from_bytes
from streams.wire.events import ExchangeEvent, LoanEventType
from tests.unit.profile_factories import BORROWER, DAY, T0, activity_event, loan_event

A = LoanEventType
NOW = T0 + 1100 * DAY


def run(events: list[ExchangeEvent], state: ProfileState | None = None) -> ProfileState:
    state = state or new_state(BORROWER)
    for ev in events:
        state, _ = apply(state, ev, DEFAULT_CONFIG)
    return state


def profile(events: list[ExchangeEvent], as_of: int = NOW) -> BorrowerProfile:
    return snapshot(run(events), as_of)


def oracle(events: list[ExchangeEvent], as_of: int = NOW) -> BorrowerProfile:
    return fold(events, DEFAULT_CONFIG, as_of)[BORROWER]


def test_purchases_yesterday_and_200_days_ago_give_one_profile_in_either_order() -> None:
    recent = activity_event("yesterday", NOW - DAY)
    old = activity_event("old", NOW - 200 * DAY, platform="old-shop")
    first, second = profile([recent, old]), profile([old, recent])
    assert first == second == oracle([recent, old])
    assert first.profile_version == 2
    assert first.first_seen_ms == NOW - 200 * DAY
    assert first.contributing_platforms == ("old-shop", "shop")
    assert first.spend_count == {"30d": 1, "90d": 1}


def test_an_old_loan_event_beyond_the_loan_horizon_counts_in_either_order() -> None:
    horizon_days = DEFAULT_CONFIG.loan_horizon_ms // DAY
    old_t = NOW - (horizon_days + 100) * DAY
    recent = [
        loan_event("d2", NOW - 2 * DAY, A.DISBURSEMENT, loan_id="L2"),
        loan_event("d1b", NOW - DAY, A.DISBURSEMENT, loan_id="L1"),  # L1 disbursed again
    ]
    old = [loan_event("d1", old_t, A.DISBURSEMENT, loan_id="L1")]
    default = [loan_event("x3", old_t + DAY, A.DEFAULT, loan_id="L3", dpd=95)]
    want = oracle(recent + old + default)
    for order in (recent + old + default, default + old + recent, old + recent + default):
        got = profile(order)
        assert got == want, order
        assert got.profile_version == 4
    # L1 was first disbursed long ago: not a loan opened this week; the old default
    # (L3's latest event: still open) counts, and is the first delinquency.
    assert want.loans_opened["7d"] == 1
    assert (want.defaults, want.open_loans) == (1, 3)
    assert want.first_delinquency_ms == old_t + DAY


def test_a_late_old_default_of_a_closed_loan_counts_within_retention() -> None:
    closed = [
        loan_event("d", NOW - 1000 * DAY, A.DISBURSEMENT),
        loan_event("c", NOW - 900 * DAY, A.CLOSURE, principal="0"),
    ]
    recent = [loan_event("a", NOW, A.APPLICATION, loan_id="L9")]
    late = [
        loan_event("x", NOW - 950 * DAY, A.DEFAULT, dpd=95),
        loan_event("r", NOW - 960 * DAY, A.REPAYMENT, principal="50"),  # not the latest
    ]
    want = oracle(closed + recent + late)
    assert (want.defaults, want.open_loans) == (1, 0)
    assert want.first_delinquency_ms == NOW - 950 * DAY
    state = run(closed + recent)  # the closed loan is pruned to what may still matter
    assert state.loans
    assert snapshot(run(late, state), NOW) == want
    assert profile(late + closed + recent) == want


def test_a_duplicate_of_a_stale_arrival_is_not_counted() -> None:
    state = run([activity_event("now", NOW), loan_event("d", NOW, A.DISBURSEMENT, loan_id="L2")])
    old_act = activity_event("old", NOW - 200 * DAY)
    old_loan = loan_event("r", NOW - 900 * DAY, A.REPAYMENT, principal="0")
    run([old_act, old_loan], state)
    assert state.version == 4 and len(state.stale) == 2
    run([old_act, old_loan], state)
    assert state.version == 4
    # Still after a restart and after pruning passes moved the newest event on weeks.
    state = state_from_bytes(state_to_bytes(state))
    for week in range(1, 6):
        apply(state, activity_event(f"w{week}", NOW + week * 7 * DAY))
    run([old_act, old_loan], state)
    assert state.version == 4 + 5
    assert snapshot(state, NOW + 35 * DAY).profile_version == 9


def test_stale_memory_leaves_with_the_retention() -> None:
    state = run([activity_event("now", NOW), activity_event("old", NOW - 200 * DAY)])
    assert "shop\0old" in state.stale
    apply(state, activity_event("later", NOW + 1700 * DAY))
    assert "shop\0old" not in state.stale  # 200 + 1700 days > the 1,826-day retention


def test_a_stale_correction_and_its_stale_target_meet_in_either_order() -> None:
    recent = [loan_event("n", NOW, A.DISBURSEMENT, loan_id="L2")]
    base = loan_event("o", NOW - 900 * DAY, A.REPAYMENT, dpd=95)
    fix = loan_event("c", NOW - 899 * DAY, A.CORRECTION, dpd=0, principal="0", corrects="o")
    want = oracle([*recent, base, fix])
    assert want.first_delinquency_ms is None and want.profile_version == 3
    assert profile([*recent, base, fix]) == profile([*recent, fix, base]) == want


def test_old_state_bytes_and_records_without_the_stale_memory_still_read() -> None:
    state = run([activity_event("a", NOW), loan_event("d", NOW, A.DISBURSEMENT)])
    fields = state_fields(state)[:-1]  # format 1: no stale memory
    old = state_from_bytes(bytes([1]) + marshal.dumps(fields, 4))
    assert old == state and old.stale == {}
    entry = profile_entry_from_bytes(bytes([RECORD_FORMAT]) + marshal.dumps((fields, None), 4))
    assert entry.state == state
    apply(old, activity_event("old", NOW - 200 * DAY))
    assert old.version == 3 and state_from_bytes(state_to_bytes(old)) == old

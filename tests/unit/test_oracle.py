"""The oracle on hand-computed examples, so that it is checked independently of the fold."""

from __future__ import annotations

import random
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from streams.domain.profile.model import BorrowerProfile
from streams.domain.profile.oracle import fold
from streams.domain.profile.windows import DEFAULT_CONFIG
from streams.wire.events import ActivityKind, ExchangeEvent, LoanEventType
from tests.unit.profile_factories import DAY, T0, activity_event, event_sets, loan_event

A = LoanEventType


def one(events: list[ExchangeEvent], as_of: int = 0) -> BorrowerProfile:
    result = fold(events, DEFAULT_CONFIG, as_of)
    assert len(result) == 1
    return next(iter(result.values()))


def test_hand_computed_profile() -> None:
    events = [
        loan_event("a1", T0, A.APPLICATION, lender="X"),
        loan_event("d1", T0 + DAY, A.DISBURSEMENT, lender="X", principal="300.00"),
        loan_event("o1", T0 + 40 * DAY, A.OVERDUE, lender="X", principal="250.00", dpd=40),
        loan_event(
            "c1", T0 + 41 * DAY, A.CORRECTION, lender="X", principal="250.00", dpd=10, corrects="o1"
        ),
        activity_event("s1", T0 + 40 * DAY, amount="20.00"),
        activity_event(
            "t1", T0 + 41 * DAY, ActivityKind.TRAVEL_BOOKING, amount="80.00", platform="air"
        ),
    ]
    p = one(events + events[:2])  # plus duplicates
    assert p.profile_version == 6
    assert p.open_loans == 1 and p.outstanding_principal == {"EUR": Decimal("250.00")}
    assert p.current_days_past_due == 10  # the correction replaced 40 with 10
    assert p.applications == {"7d": 0, "30d": 0, "90d": 1}
    assert p.loans_opened == {"7d": 0, "30d": 0, "90d": 1}
    assert p.payment_history.startswith("00")  # April (dpd 10) and March (0)
    assert p.first_delinquency_ms == T0 + 40 * DAY
    assert p.spend_count == {"30d": 2, "90d": 2}
    assert p.spend_sum["30d"] == {"EUR": Decimal("100.00")}
    assert (p.travel_bookings, p.platforms_active) == (1, 2)
    assert p.contributing_platforms == ("air", "p1", "shop")
    assert (p.first_seen_ms, p.last_event_ms, p.as_of_ms) == (T0, T0 + 41 * DAY, T0 + 41 * DAY)


def test_correction_of_unknown_event_changes_nothing_but_counts() -> None:
    base = [loan_event("d1", T0, A.DISBURSEMENT, dpd=0)]
    fixed = [*base, loan_event("c1", T0 + 1, A.CORRECTION, dpd=99, corrects="nope")]
    p, q = one(base), one(fixed)
    assert q.current_days_past_due == p.current_days_past_due == 0
    assert q.profile_version == p.profile_version + 1


def test_retention_counts_from_the_loan_end() -> None:
    events = [
        loan_event("d", T0, A.DISBURSEMENT),
        loan_event("x", T0 + 100 * DAY, A.DEFAULT, dpd=100),
        loan_event("c", T0 + 300 * DAY, A.CLOSURE, principal="0"),
    ]
    assert one(events, T0 + 300 * DAY + 1826 * DAY - 1).defaults == 1
    assert one(events, T0 + 300 * DAY + 1826 * DAY).defaults == 0


@settings(max_examples=60, deadline=None)
@given(event_sets(), st.randoms(use_true_random=False))
def test_oracle_is_order_independent(events: list[ExchangeEvent], rnd: random.Random) -> None:
    other = list(events)
    rnd.shuffle(other)
    newest = max(e.occurred_at_ms for e in events)
    assert fold(events, DEFAULT_CONFIG, newest) == fold(other, DEFAULT_CONFIG, newest)

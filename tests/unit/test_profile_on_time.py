"""What "on time" means (Metro 2: the account's status when paid) and what a
payment-history month shows; the fold and the oracle agree (issue item 5)."""

from __future__ import annotations

from datetime import date

from streams.domain.profile.fold import apply
from streams.domain.profile.model import BorrowerProfile
from streams.domain.profile.oracle import fold
from streams.domain.profile.state import new_state
from streams.domain.profile.view import snapshot
from streams.domain.profile.windows import DEFAULT_CONFIG
from streams.wire.events import ExchangeEvent, LoanEventType
from tests.unit.profile_factories import BORROWER, DAY, T0, loan_event

A = LoanEventType
DUE = date(2024, 3, 15)  # T0 is 2024-03-09T16:00Z


def both(events: list[ExchangeEvent], as_of: int) -> BorrowerProfile:
    state = new_state(BORROWER)
    for ev in events:
        apply(state, ev, DEFAULT_CONFIG)
    got = snapshot(state, as_of, DEFAULT_CONFIG)
    assert got == fold(events, DEFAULT_CONFIG, as_of)[BORROWER]
    return got


def counts(events: list[ExchangeEvent], as_of: int) -> tuple[int, int]:
    p = both(events, as_of)
    return p.repayments_on_time, p.repayments_late


def test_a_repayment_curing_90_days_of_arrears_is_late() -> None:
    events = [
        loan_event("d", T0, A.DISBURSEMENT),
        loan_event("o", T0 + 120 * DAY, A.OVERDUE, dpd=90),
        loan_event("cure", T0 + 121 * DAY, A.REPAYMENT, dpd=0, principal="50"),
        loan_event("next", T0 + 150 * DAY, A.REPAYMENT, dpd=0, principal="25"),  # current
    ]
    assert counts(events, T0 + 150 * DAY) == (1, 1)
    assert counts(events[::-1], T0 + 150 * DAY) == (1, 1)  # status is by event time


def test_a_repayment_on_a_current_loan_by_its_due_date_is_on_time() -> None:
    events = [
        loan_event("d", T0, A.DISBURSEMENT),
        loan_event("r", T0 + 2 * DAY, A.REPAYMENT, due=DUE),
        loan_event("r2", T0 + 6 * DAY, A.REPAYMENT, due=DUE),  # on the due day
    ]
    assert counts(events, T0 + 6 * DAY) == (2, 0)


def test_a_repayment_after_its_due_date_is_late_even_at_0_days_past_due() -> None:
    events = [
        loan_event("d", T0, A.DISBURSEMENT),
        loan_event("r", T0 + 10 * DAY, A.REPAYMENT, dpd=0, due=DUE),
    ]
    assert counts(events, T0 + 10 * DAY) == (0, 1)


def test_only_servicing_reports_say_whether_the_loan_was_past_due() -> None:
    events = [
        loan_event("d", T0, A.DISBURSEMENT),
        loan_event("x", T0 + DAY, A.OVERDUE, dpd=31),
        loan_event("ap", T0 + 2 * DAY, A.APPROVAL),  # not a report on the account
        loan_event("r", T0 + 3 * DAY, A.REPAYMENT),
    ]
    assert counts(events, T0 + 3 * DAY) == (0, 1)


def test_the_status_before_a_repayment_survives_pruning() -> None:
    # Past due 3 years ago, cured 2.5 years ago (older than the loan horizon: pruned
    # unless kept as the loan's newest report before it), repaid on time last month.
    now = T0 + 1100 * DAY
    events = [
        loan_event("d", now - 1100 * DAY, A.DISBURSEMENT, principal="900"),
        loan_event("o", now - 1095 * DAY, A.OVERDUE, dpd=30, principal="900"),
        loan_event("c", now - 900 * DAY, A.REPAYMENT, principal="500"),
        loan_event("r", now - 30 * DAY, A.REPAYMENT, principal="100"),
        loan_event("z", now, A.APPLICATION, loan_id="L2"),
    ]
    assert counts(events, now) == (1, 0)


def test_a_payment_history_month_is_a_utc_month_showing_its_worst_report() -> None:
    mar_end = T0 + (22 * DAY) + 7 * 3_600_000 + 59 * 60_000  # 2024-03-31T23:59Z
    events = [
        loan_event("d", T0, A.DISBURSEMENT),
        loan_event("o1", T0 + 5 * DAY, A.OVERDUE, dpd=95),  # March: worst 95 -> 3
        loan_event("r1", mar_end, A.REPAYMENT, dpd=0),  # still March, the last report
        loan_event("o2", mar_end + 60_000, A.OVERDUE, dpd=29),  # April 00:00: under 30 -> 0
        loan_event("a", T0 + 70 * DAY, A.APPLICATION, loan_id="L2"),  # May: not a report
        loan_event("o3", T0 + 100 * DAY, A.OVERDUE, dpd=200),  # June: 180+ -> 6
    ]
    p = both(events, T0 + 100 * DAY)
    assert p.payment_history.startswith("6-03-")
    assert p.worst_days_past_due == {"3m": 200, "12m": 200, "24m": 200}

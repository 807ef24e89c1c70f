"""Event builders and hypothesis strategies shared by the profile and oracle tests."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from hypothesis import strategies as st

from streams.models import (
    ActivityFacts,
    ActivityKind,
    ExchangeEvent,
    LoanEventType,
    LoanFacts,
    Product,
)

DAY = 86_400_000
HOUR = 3_600_000
T0 = 1_710_000_000_000  # 2024-03-09T16:00Z
BORROWER = "b" * 64


def loan_event(
    event_id: str,
    t: int,
    typ: LoanEventType,
    *,
    loan_id: str = "L1",
    lender: str = "LenderA",
    platform: str = "p1",
    principal: str = "100.00",
    dpd: int = 0,
    currency: str = "EUR",
    due: date | None = None,
    corrects: str | None = None,
    borrower: str = BORROWER,
) -> ExchangeEvent:
    """A validated loan event with sensible defaults."""
    facts = LoanFacts(
        loan_id=loan_id,
        lender=lender,
        product=Product.CASH_LOAN,
        type=typ,
        amount=Decimal("100.00"),
        currency=currency,
        principal_outstanding=Decimal(principal),
        days_past_due=dpd,
        due_date=due,
        corrects_event_id=corrects,
    )
    return ExchangeEvent(event_id, platform, borrower, 1, t, t + 5, loan=facts)


def activity_event(
    event_id: str,
    t: int,
    kind: ActivityKind = ActivityKind.PURCHASE,
    *,
    amount: str = "10.00",
    currency: str = "EUR",
    platform: str = "shop",
    borrower: str = BORROWER,
) -> ExchangeEvent:
    """A validated activity event with sensible defaults."""
    facts = ActivityFacts(kind, Decimal(amount), currency, "general")
    return ExchangeEvent(event_id, platform, borrower, 1, t, t + 5, activity=facts)


# Loan events span 600 days; activity only the last 85 days of that span, so that no
# event is stale whatever the arrival order (horizons: ~775 d loans, 91 d activity).
LOAN_SPAN_DAYS = 600
ACT_SPAN_DAYS = 85
_AMOUNTS = ["0", "0.00", "10.50", "99.99", "250", "1000.00"]


@st.composite
def event_sets(draw: st.DrawFn, max_events: int = 30, borrowers: int = 2) -> list[ExchangeEvent]:
    """Random distinct events (with corrections naming earlier ids) plus exact duplicates."""
    n = draw(st.integers(1, max_events))
    out: list[ExchangeEvent] = []
    ids: list[tuple[str, str]] = []  # (platform, event_id) generated so far
    for i in range(n):
        bid = f"borrower{draw(st.integers(0, borrowers - 1))}"
        platform = draw(st.sampled_from(["p1", "p2", "p3"]))
        eid = f"e{i}"
        if draw(st.integers(0, 3)) == 0:
            t = (
                T0
                + (LOAN_SPAN_DAYS - ACT_SPAN_DAYS) * DAY
                + draw(st.integers(0, ACT_SPAN_DAYS * DAY))
            )
            kind = draw(st.sampled_from(list(ActivityKind)))
            amount = draw(st.sampled_from(_AMOUNTS))
            cur = draw(st.sampled_from(["EUR", "USD"]))
            out.append(
                activity_event(
                    eid, t, kind, amount=amount, currency=cur, platform=platform, borrower=bid
                )
            )
        else:
            t = T0 + draw(st.integers(0, LOAN_SPAN_DAYS * DAY))
            typ = draw(st.sampled_from(list(LoanEventType)))
            corrects = None
            if typ is LoanEventType.CORRECTION:
                same = [e for p, e in ids if p == platform] + ["missing"]
                corrects = draw(st.sampled_from(same))
            due_off = draw(st.one_of(st.none(), st.integers(-40, 40)))
            due = None
            if due_off is not None:
                due = date.fromordinal(date(1970, 1, 1).toordinal() + t // DAY + due_off)
            out.append(
                loan_event(
                    eid,
                    t,
                    typ,
                    loan_id=draw(st.sampled_from(["L1", "L2", "L3"])),
                    lender=draw(st.sampled_from(["LenderA", "LenderB", "LenderC", "LenderD"])),
                    platform=platform,
                    principal=draw(st.sampled_from(_AMOUNTS)),
                    dpd=draw(st.sampled_from([0, 0, 5, 31, 65, 95, 130, 200])),
                    currency=draw(st.sampled_from(["EUR", "USD"])),
                    due=due,
                    corrects=corrects,
                    borrower=bid,
                )
            )
        ids.append((platform, eid))
    dups = draw(st.lists(st.sampled_from(out), max_size=5))
    return out + dups

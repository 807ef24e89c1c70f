"""Event builders and hypothesis strategies shared by the profile and oracle tests."""

from __future__ import annotations

import itertools
import random
from datetime import date
from decimal import Decimal

from hypothesis import strategies as st

from streams.stages.borrower.store import BorrowerStore, States
from streams.wire.events import (
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


# Loan events span about 3 years, activity the last 200 days of that span: both longer
# than their horizon (~745 d loans, 91 d activity), so that, depending on the arrival
# order, events arrive *stale* (older than the borrower's newest by more than the
# horizon), yet all within the 1,826-day retention (ingress rejects older events).
LOAN_SPAN_DAYS = 1100
ACT_SPAN_DAYS = 200
LOAN_HORIZON_DAYS = 745  # ProfileConfig().loan_horizon_ms in days
ACT_HORIZON_DAYS = 91  # ProfileConfig().activity_horizon_days
# Corrections name only events the profile holds in any arrival order (within the loan
# horizon of the newest event): a correction of a record already pruned is a stated
# limit (streams.domain.profile.fold), covered by no property.
_CORRECTABLE_FROM = T0 + (LOAN_SPAN_DAYS - LOAN_HORIZON_DAYS + 1) * DAY
_AMOUNTS = ["0", "0.00", "10.50", "99.99", "250", "1000.00"]


@st.composite
def event_sets(draw: st.DrawFn, max_events: int = 30, borrowers: int = 2) -> list[ExchangeEvent]:
    """Random distinct events (with corrections naming earlier ids) plus exact duplicates
    (at the end: deliver them with :func:`arrival_order`)."""
    n = draw(st.integers(1, max_events))
    out: list[ExchangeEvent] = []
    ids: list[tuple[str, str, int]] = []  # (platform, event_id, time) generated so far
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
            # Loans cluster (most events of a loan within months), the span is wide.
            t = T0 + draw(st.sampled_from([0, 300, 700, 900])) * DAY
            t += draw(st.integers(0, 200 * DAY))
            typ = draw(st.sampled_from(list(LoanEventType)))
            corrects = None
            if typ is LoanEventType.CORRECTION:
                same = [e for p, e, te in ids if p == platform and te >= _CORRECTABLE_FROM]
                corrects = draw(st.sampled_from([*same, "missing"]))
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
        ids.append((platform, eid, out[-1].occurred_at_ms))
    dups = draw(st.lists(st.sampled_from(out), max_size=5))
    return out + dups


def _horizon_ms(ev: ExchangeEvent) -> int:
    return (LOAN_HORIZON_DAYS if ev.loan is not None else ACT_HORIZON_DAYS) * DAY


def _forgotten(ev: ExchangeEvent, newest: int) -> bool:
    """Whether the profile may have pruned an event applied in-window, once its
    borrower's newest event is ``newest`` (the thresholds of profile.state.prune)."""
    if ev.loan is not None:
        return ev.occurred_at_ms < newest - _horizon_ms(ev)
    return ev.occurred_at_ms // DAY < newest // DAY - ACT_HORIZON_DAYS


def arrival_order(events: list[ExchangeEvent], rnd: random.Random) -> list[ExchangeEvent]:
    """``events`` (distinct events, then duplicates) in a random order as the pipeline
    delivers them: distinct events in any order; each duplicate after its original,
    while the profile still remembers the original. That is, before the borrower's
    newest event moves past the original's horizon if the original arrived in-window,
    or anywhere later if it arrived stale (stale arrivals are remembered through the
    retention, longer than the span). A resend after the profile forgot the original is
    ingress's to drop (its dedup window), so it is not modelled."""
    first: dict[tuple[str, str, str], ExchangeEvent] = {}
    dups: list[ExchangeEvent] = []
    for ev in events:
        key = (ev.borrower_id, ev.platform, ev.event_id)
        if key in first:
            dups.append(ev)
        else:
            first[key] = ev
    order = list(first.values())
    rnd.shuffle(order)
    for dup in dups:
        key = (dup.borrower_id, dup.platform, dup.event_id)
        pos = next(
            i for i, ev in enumerate(order) if (ev.borrower_id, ev.platform, ev.event_id) == key
        )
        newest = max(
            (e.occurred_at_ms for e in order[:pos] if e.borrower_id == dup.borrower_id),
            default=-1,
        )
        stale = newest >= 0 and _forgotten(dup, newest)
        end = len(order)
        if not stale:
            for i in range(pos + 1, len(order)):
                ev = order[i]
                newest = (
                    max(newest, ev.occurred_at_ms) if ev.borrower_id == dup.borrower_id else newest
                )
                if ev.borrower_id == dup.borrower_id and _forgotten(dup, newest):
                    end = i
                    break
        order.insert(rnd.randint(pos + 1, end), dup)
    return order


def remembered(arrived: list[ExchangeEvent]) -> list[ExchangeEvent]:
    """The events of ``arrived`` (in arrival order) whose duplicate the final profiles
    still recognise: those still in-window, and those that arrived stale."""
    newest: dict[str, int] = {}
    stale: set[tuple[str, str, str]] = set()
    for ev in arrived:
        wm = newest.get(ev.borrower_id, -1)
        if wm >= 0 and ev.occurred_at_ms < wm and _forgotten(ev, wm):
            stale.add((ev.borrower_id, ev.platform, ev.event_id))
        newest[ev.borrower_id] = max(wm, ev.occurred_at_ms)
    return [
        ev
        for ev in arrived
        if (ev.borrower_id, ev.platform, ev.event_id) in stale
        or not _forgotten(ev, newest[ev.borrower_id])
    ]


_NEXT_OFFSET = itertools.count()


def commit(store: BorrowerStore, states: States) -> None:
    """Commit ``states`` as the stage does after a transaction: each partition with a
    record at a new (increasing) changelog offset."""
    offset = next(_NEXT_OFFSET)
    store.commit(states, {p: offset for p, _record, _expires in states.values()})


def load(store: BorrowerStore, partition: int, borrower_id: str, record: bytes | None) -> None:
    """Replay one changelog record into ``store`` as recovery does."""
    store.restore_chunk(partition, {borrower_id.encode(): record}, next(_NEXT_OFFSET))

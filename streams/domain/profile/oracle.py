"""The oracle: an independent, deliberately plain recomputation of borrower profiles.

``fold(events, config, as_of_ms)`` takes every event (any order, duplicates and
corrections included) and returns the final profile per borrower. It shares only the
output type and the configuration with the streaming fold (``streams.domain.profile.fold``): no
state, no pruning, calendar arithmetic through ``datetime``. Tests and the chaos suite
compare the streaming result with it.

Rules, restated from DESIGN.md and ``streams.domain.profile.fold``:

1. Duplicates: the same (borrower, platform, event_id) counts once.
2. Corrections: a CORRECTION replaces every fact of the base event of the same platform
   it names except its time and type; the latest correction (occurred_at, event_id)
   wins; a correction naming no base event changes nothing (but is still an event).
3. Sort each loan's effective events by (occurred_at, event_id); the last one decides the
   loan's status, principal and current days past due.
4. Windows are UTC calendar days / months ending at ``max(as_of_ms, newest event)``.
5. Negative data of a loan counts while the loan is open or until retention has passed
   since the loan's last event.
6. Every distinct event counts, however old and in whatever order it arrived
   (``profile_version`` is the number of distinct events): an event older than the
   borrower's newest by more than a horizon changes no window but still takes part in
   everything else (a loan's latest event, its defaults, first delinquency and first
   disbursement; first seen; contributing platforms).
7. A repayment is on time only if its loan was not past due just before it (the loan's
   previous servicing event reports 0 days past due and is not OVERDUE, DEFAULT or
   WRITE_OFF), it reports 0 days past due and its day is not after its due date;
   otherwise late. Applications, approvals and declines are not servicing events.
8. Payment history: per UTC calendar month (of occurred_at), most recent first, the
   worst days past due of the servicing events in it (``dpd // 30``, at most 6), ``-``
   for a month without one.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from streams.domain.profile.model import BorrowerProfile
from streams.domain.profile.windows import DEFAULT_CONFIG, ProfileConfig
from streams.wire.events import ActivityKind, ExchangeEvent, LoanEventType, LoanFacts

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NOT_SERVICING = {
    LoanEventType.APPLICATION,
    LoanEventType.APPROVAL,
    LoanEventType.DECLINE,
}
_NEGATIVE_TYPES = {
    LoanEventType.OVERDUE,
    LoanEventType.DEFAULT,
    LoanEventType.WRITE_OFF,
}


def _date(ms: int) -> date:
    return (_EPOCH + timedelta(milliseconds=ms)).date()


def _month(d: date) -> int:
    return d.year * 12 + d.month - 1


class _Ev:
    """An effective loan event: the base event's time and type with the winning facts."""

    def __init__(self, ev: ExchangeEvent, facts: LoanFacts, base: LoanFacts) -> None:
        self.t = ev.occurred_at_ms
        self.event_id = ev.event_id
        self.type = base.type
        self.facts = facts
        self.day = _date(self.t)


def _status(last: _Ev) -> str:
    kind, zero = last.type, last.facts.principal_outstanding == 0
    if kind in (
        LoanEventType.DISBURSEMENT,
        LoanEventType.OVERDUE,
        LoanEventType.DEFAULT,
    ):
        return "open"
    if kind is LoanEventType.REPAYMENT:
        return "paid" if zero else "open"
    if kind is LoanEventType.CLOSURE:
        return "paid" if zero else "closed"
    return "other"


def fold(
    events: Iterable[ExchangeEvent],
    config: ProfileConfig = DEFAULT_CONFIG,
    as_of_ms: int = 0,
) -> dict[str, BorrowerProfile]:
    """Final profiles per borrower_id, as of ``max(as_of_ms, newest event)`` each."""
    unique: dict[tuple[str, str, str], ExchangeEvent] = {}
    for ev in sorted(events, key=lambda e: (e.occurred_at_ms, e.platform, e.event_id)):
        unique.setdefault((ev.borrower_id, ev.platform, ev.event_id), ev)
    by_borrower: dict[str, list[ExchangeEvent]] = defaultdict(list)
    for ev in unique.values():
        by_borrower[ev.borrower_id].append(ev)
    return {bid: _profile(bid, evs, config, as_of_ms) for bid, evs in by_borrower.items()}


def _effective_loans(evs: list[ExchangeEvent]) -> dict[tuple[str, str], list[_Ev]]:
    best: dict[tuple[str, str], ExchangeEvent] = {}
    for ev in evs:
        if ev.loan is not None and ev.loan.type is LoanEventType.CORRECTION:
            target = ev.loan.corrects_event_id
            if target is None:
                continue
            key = (ev.platform, target)
            if key not in best or (ev.occurred_at_ms, ev.event_id) > (
                best[key].occurred_at_ms,
                best[key].event_id,
            ):
                best[key] = ev
    loans: dict[tuple[str, str], list[_Ev]] = defaultdict(list)
    for ev in evs:
        if ev.loan is None or ev.loan.type is LoanEventType.CORRECTION:
            continue
        fix = best.get((ev.platform, ev.event_id))
        facts = fix.loan if fix is not None and fix.loan is not None else ev.loan
        loans[(ev.platform, facts.loan_id)].append(_Ev(ev, facts, ev.loan))
    for items in loans.values():
        items.sort(key=lambda e: (e.t, e.event_id))
    return loans


def _profile(
    bid: str, evs: list[ExchangeEvent], cfg: ProfileConfig, as_of_ms: int
) -> BorrowerProfile:
    newest = max(e.occurred_at_ms for e in evs)
    as_of = max(as_of_ms, newest)
    today = _date(as_of)
    this_month = _month(today)

    def in_days(d: date, n: int) -> bool:
        return d > today - timedelta(days=n)

    def in_months(d: date, n: int) -> bool:
        return _month(d) > this_month - n

    loans = _effective_loans(evs)
    principal: dict[str, Decimal] = {}
    open_loans = current = on_time = late = defaults = write_offs = 0
    first_delinquency: int | None = None
    worst_by_month: dict[int, int] = {}
    opened_days: list[date] = []
    applications: list[_Ev] = []
    disbursements: list[_Ev] = []
    for items in loans.values():
        last = items[-1]
        status = _status(last)
        if status == "open":
            open_loans += 1
            cur = last.facts.currency
            principal[cur] = principal.get(cur, Decimal(0)) + last.facts.principal_outstanding
            current = max(current, last.facts.days_past_due)
        retained = status == "open" or (last.t + cfg.negative_retention_days * 86_400_000 > as_of)
        types = {e.type for e in items}
        if retained:
            defaults += LoanEventType.DEFAULT in types
            write_offs += LoanEventType.WRITE_OFF in types
        disb = [e for e in items if e.type is LoanEventType.DISBURSEMENT]
        if disb:
            opened_days.append(min(e.day for e in disb))
        disbursements += disb
        applications += [e for e in items if e.type is LoanEventType.APPLICATION]
        servicing = [e for e in items if e.type not in _NOT_SERVICING]
        for i, e in enumerate(servicing):
            dpd = e.facts.days_past_due
            m = _month(e.day)
            worst_by_month[m] = max(worst_by_month.get(m, 0), dpd)
            if e.type is LoanEventType.REPAYMENT and in_months(e.day, cfg.repayment_window_months):
                due = e.facts.due_date
                before = servicing[i - 1] if i > 0 else None
                past_due_before = before is not None and (
                    before.facts.days_past_due > 0 or before.type in _NEGATIVE_TYPES
                )
                if past_due_before or dpd > 0 or (due is not None and e.day > due):
                    late += 1
                else:
                    on_time += 1
            delinquent = dpd > 0 or e.type in _NEGATIVE_TYPES
            if retained and delinquent and (first_delinquency is None or e.t < first_delinquency):
                first_delinquency = e.t

    history = ""
    for back in range(cfg.history_months):
        m = this_month - back
        history += str(min(worst_by_month[m] // 30, 6)) if m in worst_by_month else "-"
    worst = {}
    for k in cfg.dpd_windows_months:
        values = [v for m, v in worst_by_month.items() if this_month - k < m <= this_month]
        worst[f"{k}m"] = max(values, default=0)

    spend_count, spend_sum, travel, active = _activity(evs, cfg, today)

    return BorrowerProfile(
        borrower_id=bid,
        as_of_ms=as_of,
        profile_version=len(evs),
        open_loans=open_loans,
        outstanding_principal=principal,
        loans_opened={
            f"{w}d": sum(in_days(d, w) for d in opened_days) for w in cfg.count_windows_days
        },
        applications={
            f"{w}d": sum(in_days(a.day, w) for a in applications) for w in cfg.count_windows_days
        },
        lenders_applied={
            f"{w}d": len({a.facts.lender for a in applications if in_days(a.day, w)})
            for w in cfg.lender_windows_days
        },
        lenders_borrowing={
            f"{w}d": len({d.facts.lender for d in disbursements if in_days(d.day, w)})
            for w in cfg.lender_windows_days
        },
        current_days_past_due=current,
        worst_days_past_due=worst,
        payment_history=history,
        repayments_on_time=on_time,
        repayments_late=late,
        defaults=defaults,
        write_offs=write_offs,
        first_delinquency_ms=first_delinquency,
        spend_count=spend_count,
        spend_sum=spend_sum,
        travel_bookings=travel,
        platforms_active=active,
        first_seen_ms=min(e.occurred_at_ms for e in evs),
        contributing_platforms=tuple(sorted({e.platform for e in evs})),
        last_event_ms=newest,
    )


def _activity(
    evs: list[ExchangeEvent], cfg: ProfileConfig, today: date
) -> tuple[dict[str, int], dict[str, dict[str, Decimal]], int, int]:
    """(spend count per window, spend sums per window and currency, travel, platforms)."""
    spend_count: dict[str, int] = {}
    spend_sum: dict[str, dict[str, Decimal]] = {}
    travel = 0
    active: set[str] = set()
    for w in cfg.spend_windows_days:
        count, sums = 0, dict[str, Decimal]()
        for ev in evs:
            a = ev.activity
            if a is None or a.kind is ActivityKind.ACCOUNT_CHANGE:
                continue
            if _date(ev.occurred_at_ms) > today - timedelta(days=w):
                count += 1
                sums[a.currency] = sums.get(a.currency, Decimal(0)) + a.amount
        spend_count[f"{w}d"], spend_sum[f"{w}d"] = count, sums
    for ev in evs:
        a = ev.activity
        if a is None:
            continue
        d = _date(ev.occurred_at_ms)
        if a.kind is ActivityKind.TRAVEL_BOOKING and d > today - timedelta(cfg.travel_window_days):
            travel += 1
        if d > today - timedelta(days=cfg.active_window_days):
            active.add(ev.platform)
    return spend_count, spend_sum, travel, len(active)

"""The credit features of a borrower's loans, read at a time (``streams.domain.profile.view``).

Everything here is derived from the effective loan records (``streams.domain.profile.state``)
and the read time: windows by UTC day and month end at the read day, negative data
counts while its loan is open or until retention has passed since the loan's last
event. Two definitions (the same in ``profile.oracle`` and the BorrowerProfile schema):

* on time (Metro 2: the account's status when the payment is made): a repayment is on
  time only if its loan was not past due just before it (the loan's previous servicing
  record, by event time, reports 0 days past due and is not an OVERDUE, DEFAULT or
  WRITE_OFF), it reports 0 days past due itself and its UTC day is not after its due
  date; otherwise it is late (a repayment curing arrears is late);
* a payment-history month is a UTC calendar month: a servicing record (not an
  application, approval or decline; any loan) falls in the month of its occurred_at,
  and the month shows the *worst* days past due among them (0 for under 30, then one
  step per 30 days, 6 from 180); "-" when no servicing record falls in it.

Besides the features, :func:`credit_features` says until when they hold, so the state
can memoize them across reads (see ``profile.view``).
"""

from __future__ import annotations

from streams.clock import DAY_MS
from streams.domain.profile.model import Credit, Money, cents
from streams.domain.profile.state import (
    APPLICATION,
    DEFAULT,
    DISBURSEMENT,
    NON_SERVICING,
    OPEN_TYPES,
    OVERDUE,
    REPAYMENT,
    WRITE_OFF,
    Loan,
    is_zero,
)
from streams.domain.profile.windows import MONTH_OF_DAY, ProfileConfig, month_of_day

_DEFAULT_BIT = 1 << DEFAULT
_WRITE_OFF_BIT = 1 << WRITE_OFF
_NEGATIVE_TYPES = frozenset({OVERDUE, DEFAULT, WRITE_OFF})
_METRO2 = "0123456"


def credit_features(
    loans: dict[str, Loan], asof: int, d_now: int, config: ProfileConfig
) -> tuple[Credit, int]:
    """The credit features of ``loans`` read at ``asof`` (in day ``d_now``), and the
    first instant after ``asof`` at which they may read differently."""
    m_now = month_of_day(d_now)
    c_windows, l_windows = config.count_windows_days, config.lender_windows_days
    nc = len(c_windows)
    c_max, l_max = config.count_max, config.lender_max
    months, dpd_windows = config.history_months, config.dpd_windows_months
    m_max = config.months_back  # months further back matter to no feature
    rep_start = m_now - config.repayment_window_months + 1
    retention_ms = config.retention_ms
    until = (d_now + 1) * DAY_MS  # day windows move at midnight UTC
    opened = [0] * nc
    apps = [0] * nc
    applied: dict[str, int] = {}  # lender -> youngest application age (days)
    borrowing: dict[str, int] = {}  # lender -> youngest disbursement age (days)
    month_max: dict[int, int] = {}
    principal: dict[str, Money] = {}
    n_open = cur_dpd = on_time = late = defaults = write_offs = 0
    first_delinquency: int | None = None
    month_of = MONTH_OF_DAY.get
    for mask, first_disb, recs in loans.values():
        latest = recs[-1]
        ltyp = latest[2]
        if ltyp in OPEN_TYPES or (ltyp == REPAYMENT and not is_zero(latest[5])):
            retained = True
            n_open += 1
            cur = latest[4]
            principal[cur] = principal.get(cur, 0) + cents(latest[5])
            cur_dpd = max(cur_dpd, latest[6])
        else:
            # Negative data ages out `retention` after the loan's last event.
            ends = latest[0] + retention_ms
            retained = ends > asof
            if retained and ends < until:
                until = ends
        if first_disb >= 0:
            age = d_now - first_disb // DAY_MS
            if age < c_max:
                for i in range(nc):
                    if age < c_windows[i]:
                        opened[i] += 1
        if retained:
            if mask & _DEFAULT_BIT:
                defaults += 1
            if mask & _WRITE_OFF_BIT:
                write_offs += 1
        past_due = False  # the loan's status before the record: past due (delinquent)
        for rec in recs:
            typ, day = rec[2], rec[0] // DAY_MS
            if typ in NON_SERVICING:
                if typ == APPLICATION:
                    age = d_now - day
                    if age < c_max:
                        for i in range(nc):
                            if age < c_windows[i]:
                                apps[i] += 1
                    if age < l_max:
                        lender = rec[3]
                        if applied.get(lender, l_max) > age:
                            applied[lender] = age
                continue
            dpd = rec[6]
            month = month_of(day)
            if month is None:
                month = month_of_day(day)
            if m_now - month < m_max and dpd > month_max.get(month, -1):
                month_max[month] = dpd
            if typ == DISBURSEMENT:
                age = d_now - day
                if age < l_max:
                    lender = rec[3]
                    if borrowing.get(lender, l_max) > age:
                        borrowing[lender] = age
            elif typ == REPAYMENT and month >= rep_start:
                # On time (Metro 2: the status when paid) only if the loan was current
                # before it, it reports 0 days past due and it is not after its due date.
                if past_due or dpd > 0 or 0 <= rec[7] < day:
                    late += 1
                else:
                    on_time += 1
            if dpd > 0 or typ in _NEGATIVE_TYPES:  # delinquency evidence
                past_due = True
                if retained:
                    t = rec[0]
                    if first_delinquency is None or t < first_delinquency:
                        first_delinquency = t
            else:
                past_due = False
    hist = ["-"] * months
    worst = [0] * len(dpd_windows)
    for month, dpd in month_max.items():  # one pass for the history and every window
        back = m_now - month
        if back < months:
            hist[back] = _METRO2[dpd // 30 if dpd < 180 else 6] if dpd > 0 else "0"
        for i, k in enumerate(dpd_windows):
            if back < k and dpd > worst[i]:
                worst[i] = dpd
    credit = (
        n_open,
        tuple(sorted(principal.items())) if principal else (),
        tuple(opened),
        tuple(apps),
        _distinct(applied, l_windows),
        _distinct(borrowing, l_windows),
        cur_dpd,
        tuple(worst),
        "".join(hist),
        on_time,
        late,
        defaults,
        write_offs,
        first_delinquency,
    )
    return credit, until


def _distinct(youngest: dict[str, int], windows: tuple[int, ...]) -> tuple[int, ...]:
    """Per window: how many keys have an age inside it."""
    counts = [0] * len(windows)
    for age in youngest.values():
        for i, w in enumerate(windows):
            if age < w:
                counts[i] += 1
    return tuple(counts)

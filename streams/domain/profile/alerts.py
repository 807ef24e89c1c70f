"""Alerts raised on profile transitions (pure; no Kafka import).

An alert fires when a derived fact *changes*, never merely because an event arrived:

* per loan (compared before/after the event): ``new_application`` when the loan gets its
  first application, ``new_loan`` its first disbursement, ``default`` its first default or
  write-off, ``payoff`` when its status becomes paid off;
* per borrower: ``delinquency_worsened`` when the delinquency level of the worst open
  loan's current days past due rises (see ``streams.domain.profile.windows.delinquency_level``);
  ``multi_lending`` / ``application_burst`` when the distinct lenders disbursing within
  D days / platforms applied to within H hours, counted back from the newest event time,
  rise from below the threshold to at least it.

So the same overdue reported twice, or a late event older than the newest facts of its
loan, raises nothing. Reasons state the numbers that tripped the alert and no personal
data (lender names are businesses).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from streams.clock import DAY_MS
from streams.domain.profile.state import (
    APPLICATION,
    DISBURSEMENT,
    L_MASK,
    L_RECS,
    NEGATIVE_MASK,
    OPEN,
    PAID,
    R_DPD,
    R_KEY,
    R_LENDER,
    R_T,
    R_TYPE,
    Loan,
    ProfileState,
    loan_status,
)
from streams.domain.profile.windows import HOUR_MS, ProfileConfig, delinquency_level, level_label


class AlertKind(StrEnum):
    """Kinds of alert, as written to feeds (``FeedAlert.kind``)."""

    NEW_LOAN = "new_loan"
    NEW_APPLICATION = "new_application"
    DELINQUENCY_WORSENED = "delinquency_worsened"
    PAYOFF = "payoff"
    DEFAULT = "default"
    MULTI_LENDING = "multi_lending"
    APPLICATION_BURST = "application_burst"


@dataclass(slots=True, init=False)
class Alert:
    """One alert: its kind, a reason with the numbers, the triggering event time;
    built by hand like :class:`~streams.wire.events.LoanFacts` (mypyc compiles the init)."""

    kind: AlertKind
    reason: str
    occurred_at_ms: int
    details: dict[str, int]

    def __init__(
        self,
        kind: AlertKind,
        reason: str,
        occurred_at_ms: int,
        details: dict[str, int] | None = None,
    ) -> None:
        self.kind = kind
        self.reason = reason
        self.occurred_at_ms = occurred_at_ms
        self.details = {} if details is None else details


# (type mask, status, current dpd if open else 0); a missing loan is (0, -1, 0).
Summary = tuple[int, int, int]
_ABSENT: Summary = (0, -1, 0)
_APP_BIT = 1 << APPLICATION
_DISB_BIT = 1 << DISBURSEMENT


def summarize(loan: Loan | None) -> Summary:
    """The per-loan facts alerts compare before and after an event."""
    if loan is None:
        return _ABSENT
    latest = loan[L_RECS][-1]
    status = loan_status(latest)
    return (loan[L_MASK], status, latest[R_DPD] if status == OPEN else 0)


def open_loans(state: ProfileState) -> int:
    """Number of loans whose latest record leaves them open."""
    return sum(1 for loan in state.loans.values() if loan_status(loan[L_RECS][-1]) == OPEN)


def max_open_dpd(state: ProfileState, exclude: set[str]) -> int:
    """Worst current days past due over open loans not in ``exclude``."""
    worst = 0
    for key, loan in state.loans.items():
        if key not in exclude:
            worst = max(worst, summarize(loan)[2])
    return worst


def distinct_since(state: ProfileState, typ: int, since_ms: int, by_platform: bool) -> int:
    """Distinct lenders (or platforms) of records of ``typ`` newer than ``since_ms``."""
    seen: set[str] = set()
    for loan in state.loans.values():
        for rec in loan[L_RECS]:
            if rec[R_TYPE] == typ and rec[R_T] > since_ms:
                seen.add(rec[R_KEY].partition("\0")[0] if by_platform else rec[R_LENDER])
    return len(seen)


def window_counts(state: ProfileState, types: set[int], config: ProfileConfig) -> tuple[int, int]:
    """(lenders disbursing within D days, platforms applied to within H hours) at the
    newest event time; -1 for a count ``types`` cannot change."""
    wm = state.watermark
    ml = bu = -1
    if DISBURSEMENT in types:
        ml = distinct_since(state, DISBURSEMENT, wm - config.multi_lending_days * DAY_MS, False)
    if APPLICATION in types:
        bu = distinct_since(state, APPLICATION, wm - config.burst_hours * HOUR_MS, True)
    return ml, bu


def loan_alerts(
    state: ProfileState, key: str, before: Summary, after: Summary, at_ms: int
) -> list[Alert]:
    """Per-loan transitions of the loan ``key`` between two summaries."""
    out: list[Alert] = []
    loan = state.loans.get(key)
    lender = loan[L_RECS][-1][R_LENDER] if loan is not None else "?"
    gained = after[0] & ~before[0]
    if gained & _APP_BIT:
        out.append(Alert(AlertKind.NEW_APPLICATION, f"application to lender {lender}", at_ms))
    if gained & _DISB_BIT:
        n = open_loans(state)
        reason = f"loan disbursed by lender {lender}; open loans now {n}"
        out.append(Alert(AlertKind.NEW_LOAN, reason, at_ms, {"open_loans": n}))
    if after[0] & NEGATIVE_MASK and not before[0] & NEGATIVE_MASK:
        dpd = loan[L_RECS][-1][R_DPD] if loan is not None else 0
        reason = f"loan from lender {lender} defaulted at {dpd} days past due"
        out.append(Alert(AlertKind.DEFAULT, reason, at_ms, {"days_past_due": dpd}))
    if after[1] == PAID and before[1] != PAID:
        n = open_loans(state)
        reason = f"loan from lender {lender} paid off; open loans now {n}"
        out.append(Alert(AlertKind.PAYOFF, reason, at_ms, {"open_loans": n}))
    return out


def delinquency_alert(old_dpd: int, new_dpd: int, at_ms: int, step: int) -> list[Alert]:
    """``delinquency_worsened`` when the level of the worst current dpd rises."""
    lo, hi = delinquency_level(old_dpd, step), delinquency_level(new_dpd, step)
    if hi <= lo:
        return []
    reason = (
        f"worst current days past due rose from {old_dpd} to {new_dpd} "
        f"({level_label(lo, step)} -> {level_label(hi, step)})"
    )
    details = {"from_days_past_due": old_dpd, "to_days_past_due": new_dpd}
    return [Alert(AlertKind.DELINQUENCY_WORSENED, reason, at_ms, details)]


def window_alerts(
    before: tuple[int, int], after: tuple[int, int], at_ms: int, config: ProfileConfig
) -> list[Alert]:
    """``multi_lending`` / ``application_burst`` when a count crosses its threshold."""
    out: list[Alert] = []
    n, d = config.multi_lending_lenders, config.multi_lending_days
    if before[0] < n <= after[0]:
        reason = f"{after[0]} distinct lenders disbursed within {d} days (threshold {n})"
        out.append(Alert(AlertKind.MULTI_LENDING, reason, at_ms, {"lenders": after[0]}))
    m, h = config.burst_platforms, config.burst_hours
    if before[1] < m <= after[1]:
        reason = f"applications on {after[1]} platforms within {h} hours (threshold {m})"
        out.append(Alert(AlertKind.APPLICATION_BURST, reason, at_ms, {"platforms": after[1]}))
    return out

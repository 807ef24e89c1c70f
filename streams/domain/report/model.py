"""One's own report: what the exchange holds on a person and who received it (pure).

The information subject's right to their record (征信业管理条例 art. 17; FCRA §1681g:
the file and the list of who received it). :func:`build_report` assembles it from what
the exchange keeps, nothing else:

* the **profile** a bank would receive now (the bank-facing view of the fold state, at
  ``now_ms``: windows roll, so it is computed, not the last one sent);
* the **records behind it**: every loan the state holds, per furnishing platform, with
  each effective record (date, type, lender, principal outstanding, days past due,
  whether a platform's correction rewrote it), and the activity per day that the
  activity figures count;
* the **consents** banks hold now (bank, purpose, consent reference, until when);
* every **delivery** of the person's data in the last ``DELIVERY_MONTHS`` months from the
  audit log (bank, purpose, consent reference, time, profile version), and whether the
  audit chain that holds them verified;
* how many reports the person was given this calendar year (two are free a year:
  metering, not a limit).

It never holds the national ID, and the borrower_id only as an 8-character prefix.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from streams.clock import DAY_MS, iso_ms
from streams.domain.consent import Subscription
from streams.domain.delivery import bank_view
from streams.domain.profile.state import (
    L_RECS,
    R_CT,
    R_CUR,
    R_DPD,
    R_LENDER,
    R_PRINCIPAL,
    R_T,
    R_TYPE,
    T_CODE,
    ProfileState,
    loan_status,
)
from streams.domain.profile.view import snapshot
from streams.domain.profile.windows import ProfileConfig
from streams.domain.rights import Rights, marked_view, marks

DELIVERY_MONTHS = 12
FREE_REPORTS_PER_YEAR = 2
_TYPE_NAME = {code: t.value for t, code in T_CODE.items()}
_STATUS = ("open", "pending", "declined", "paid", "closed", "written off")


@dataclass(frozen=True, slots=True)
class LoanRecord:
    """One effective record of a loan, as the profile counts it."""

    date: str
    type: str
    lender: str
    currency: str
    principal_outstanding: str
    days_past_due: int
    corrected: bool


@dataclass(frozen=True, slots=True)
class LoanLine:
    """One loan as a platform reported it."""

    platform: str
    loan_id: str
    status: str
    records: tuple[LoanRecord, ...]


@dataclass(frozen=True, slots=True)
class ActivityDay:
    """One day of activity the activity figures count (all platforms together)."""

    date: str
    spend_count: int
    spend_sums: dict[str, str]
    travel_bookings: int


@dataclass(frozen=True, slots=True)
class Report:
    """Everything a person is told (see the module doc)."""

    borrower: str  # the borrower_id's first 8 characters
    as_of: str
    profile: dict[str, Any] | None  # None: the exchange holds nothing on them
    loans: tuple[LoanLine, ...] = ()
    activity: tuple[ActivityDay, ...] = ()
    activity_platforms: dict[str, str] = field(default_factory=dict)  # platform -> last day
    consents: tuple[dict[str, str], ...] = ()
    disputes: tuple[dict[str, str], ...] = ()  # objections, open first, newest first
    deliveries: tuple[dict[str, Any], ...] = ()
    chain_ok: bool = True
    chain_problems: tuple[str, ...] = ()
    reports_this_year: int = 1
    free_reports_per_year: int = FREE_REPORTS_PER_YEAR

    def as_dict(self) -> dict[str, Any]:
        return {
            "borrower": self.borrower,
            "as_of": self.as_of,
            "profile": self.profile,
            "loans": [
                {
                    "platform": ln.platform,
                    "loan_id": ln.loan_id,
                    "status": ln.status,
                    "records": [_fields(r) for r in ln.records],
                }
                for ln in self.loans
            ],
            "activity": [_fields(d) for d in self.activity],
            "activity_platforms": self.activity_platforms,
            "consents": list(self.consents),
            "disputes": list(self.disputes),
            "deliveries": list(self.deliveries),
            "chain_ok": self.chain_ok,
            "chain_problems": list(self.chain_problems),
            "reports_this_year": self.reports_this_year,
            "free_reports_per_year": self.free_reports_per_year,
        }


def _fields(obj: Any) -> dict[str, Any]:
    return {name: getattr(obj, name) for name in obj.__slots__}


def iso_day(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).date().isoformat()


def build_report(
    borrower_id: str,
    state: ProfileState | None,
    subs: Mapping[str, Subscription],
    deliveries: Iterable[Mapping[str, Any]],
    now_ms: int,
    config: ProfileConfig,
    *,
    chain_problems: Iterable[str] = (),
    reports_this_year: int = 1,
    rights: Rights | None = None,
) -> Report:
    """The report of ``borrower_id`` from its fold ``state`` (None: nothing held), its
    banks' ``subs``, the audit ``deliveries`` of its data (AuditRecord fields,
    ``delivered_at`` in epoch ms; older than ``DELIVERY_MONTHS`` are left out) and its
    objections (``rights``)."""
    since = now_ms - DELIVERY_MONTHS * 30 * DAY_MS
    sent = tuple(
        {
            "delivered_at": iso_ms(d["delivered_at"]),
            "bank": str(d["bank"]),
            "purpose": str(d["purpose"]),
            "consent_ref": str(d["consent_ref"]),
            "profile_version": int(d["profile_version"]),
        }
        for d in sorted(deliveries, key=lambda d: d["delivered_at"])
        if d["delivered_at"] >= since
    )
    consents = tuple(
        {
            "bank": s.bank,
            "purpose": str(s.purpose),
            "consent_ref": s.consent_ref,
            "until": iso_ms(s.expires_at_ms),
        }
        for s in sorted(subs.values(), key=lambda s: s.bank)
        if s.active_at(now_ms)
    )
    problems = tuple(chain_problems)
    common: dict[str, Any] = {
        "borrower": borrower_id[:8],
        "as_of": iso_ms(now_ms),
        "consents": consents,
        "disputes": disputes_of(rights),
        "deliveries": sent,
        "chain_ok": not problems,
        "chain_problems": problems,
        "reports_this_year": reports_this_year,
    }
    if state is None or state.version == 0:
        return Report(profile=None, **common)
    profile = json.loads(marked_view(bank_view(snapshot(state, now_ms, config)), marks(rights)))
    return Report(
        profile=profile,
        loans=_loans(state),
        activity=_activity(state, now_ms, config),
        activity_platforms={p: iso_day(t) for p, t in sorted(state.act_platforms.items())},
        **common,
    )


def disputes_of(rights: Rights | None) -> tuple[dict[str, str], ...]:
    """Each objection as the borrower reads it: open ones first, then newest first."""
    if rights is None:
        return ()
    ordered = sorted(rights.disputes.values(), key=lambda d: (not d.open, -d.opened_ms))
    return tuple(
        {
            "dispute_id": d.dispute_id,
            "platform": d.platform,
            "loan_id": d.loan_id,
            "status": d.status,
            "opened": iso_ms(d.opened_ms),
            "deadline": iso_ms(d.deadline_ms),
            "closed": "" if d.open else iso_ms(d.closed_ms),
            "note": d.note,
        }
        for d in ordered
    )


def _loans(state: ProfileState) -> tuple[LoanLine, ...]:
    out = []
    for lkey, loan in sorted(state.loans.items()):
        platform, _, loan_id = lkey.partition("\0")
        recs = loan[L_RECS]
        out.append(
            LoanLine(
                platform,
                loan_id,
                _STATUS[loan_status(recs[-1])],
                tuple(
                    LoanRecord(
                        iso_day(r[R_T]),
                        _TYPE_NAME.get(r[R_TYPE], str(r[R_TYPE])),
                        r[R_LENDER],
                        r[R_CUR],
                        r[R_PRINCIPAL],
                        r[R_DPD],
                        r[R_CT] >= 0,
                    )
                    for r in recs
                ),
            )
        )
    return tuple(out)


def _activity(state: ProfileState, now_ms: int, config: ProfileConfig) -> tuple[ActivityDay, ...]:
    first = now_ms // DAY_MS - config.activity_horizon_days
    return tuple(
        ActivityDay(iso_day(day * DAY_MS), b[0], dict(sorted(b[1].items())), b[2])
        for day, b in sorted(state.act_days.items())
        if day >= first and (b[0] or b[2])
    )

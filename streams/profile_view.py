"""The borrower profile read model: snapshot on read, material change, bank-facing forms.

:func:`snapshot` derives every feature from the fold state *at read time*, so a feature
"in 30 days" is right whenever it is read (windows expire on read, no timer needed).
Window-keyed features are maps labelled by window (``"7d"``, ``"3m"``; see
``streams.windows.ProfileConfig``). The feature definitions are restated, independently,
in ``streams.oracle``; the two must agree.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from streams.profile_state import (
    APPLICATION,
    DEFAULT,
    DISBURSEMENT,
    L_FIRST_DISB,
    L_MASK,
    L_RECS,
    NON_SERVICING,
    OPEN,
    R_CUR,
    R_DPD,
    R_DUE,
    R_LENDER,
    R_PRINCIPAL,
    R_T,
    R_TYPE,
    REPAYMENT,
    WRITE_OFF,
    ProfileState,
    is_delinquent,
    loan_status,
)
from streams.windows import (
    DAY_MS,
    DEFAULT_CONFIG,
    ProfileConfig,
    metro2_char,
    month_of_day,
)


@dataclass(frozen=True, slots=True)
class BorrowerProfile:
    """Features of one borrower as of ``as_of_ms`` (see the Avro schema for each field).

    Credit features come first, activity features (kept apart from credit) next, then
    provenance. Map fields are keyed by window label; money maps by ISO currency.
    """

    borrower_id: str
    as_of_ms: int
    profile_version: int
    open_loans: int
    outstanding_principal: dict[str, Decimal]
    loans_opened: dict[str, int]
    applications: dict[str, int]
    lenders_applied: dict[str, int]
    lenders_borrowing: dict[str, int]
    current_days_past_due: int
    worst_days_past_due: dict[str, int]
    payment_history: str
    repayments_on_time: int
    repayments_late: int
    defaults: int
    write_offs: int
    first_delinquency_ms: int | None
    spend_count: dict[str, int]
    spend_sum: dict[str, dict[str, Decimal]]
    travel_bookings: int
    platforms_active: int
    first_seen_ms: int | None
    contributing_platforms: tuple[str, ...]
    last_event_ms: int | None


def snapshot(
    state: ProfileState, as_of_ms: int, config: ProfileConfig = DEFAULT_CONFIG
) -> BorrowerProfile:
    """The profile as of ``max(as_of_ms, newest applied event)`` (profiles never look
    back before facts they already hold)."""
    asof = max(as_of_ms, state.watermark)
    d_now = asof // DAY_MS
    m_now = month_of_day(d_now)
    c_starts = [d_now - w + 1 for w in config.count_windows_days]
    l_starts = [d_now - w + 1 for w in config.lender_windows_days]
    rep_start = m_now - config.repayment_window_months + 1
    retention_ms = config.negative_retention_days * DAY_MS
    opened = [0] * len(c_starts)
    apps = [0] * len(c_starts)
    applied: list[set[str]] = [set() for _ in l_starts]
    borrowing: list[set[str]] = [set() for _ in l_starts]
    month_max: dict[int, int] = {}
    principal: dict[str, Decimal] = {}
    n_open = cur_dpd = on_time = late = defaults = write_offs = 0
    first_delinquency: int | None = None
    for loan in state.loans.values():
        recs = loan[L_RECS]
        latest = recs[-1]
        is_open = loan_status(latest) == OPEN
        if is_open:
            n_open += 1
            cur = latest[R_CUR]
            principal[cur] = principal.get(cur, Decimal(0)) + Decimal(latest[R_PRINCIPAL])
            cur_dpd = max(cur_dpd, latest[R_DPD])
        if loan[L_FIRST_DISB] >= 0:
            first_day = loan[L_FIRST_DISB] // DAY_MS
            for i, start in enumerate(c_starts):
                opened[i] += first_day >= start
        # Negative data ages out `retention` after the loan's last event, never while open.
        retained = is_open or latest[R_T] + retention_ms > asof
        if retained:
            defaults += bool(loan[L_MASK] & (1 << DEFAULT))
            write_offs += bool(loan[L_MASK] & (1 << WRITE_OFF))
        for rec in recs:
            typ, day = rec[R_TYPE], rec[R_T] // DAY_MS
            if typ == APPLICATION:
                for i, start in enumerate(c_starts):
                    apps[i] += day >= start
                for i, start in enumerate(l_starts):
                    if day >= start:
                        applied[i].add(rec[R_LENDER])
            if typ in NON_SERVICING:
                continue
            month, dpd = month_of_day(day), rec[R_DPD]
            if dpd > month_max.get(month, -1):
                month_max[month] = dpd
            if typ == DISBURSEMENT:
                for i, start in enumerate(l_starts):
                    if day >= start:
                        borrowing[i].add(rec[R_LENDER])
            elif typ == REPAYMENT and month >= rep_start:
                if dpd > 0 or 0 <= rec[R_DUE] < day:
                    late += 1
                else:
                    on_time += 1
            if retained and is_delinquent(rec):
                t = rec[R_T]
                if first_delinquency is None or t < first_delinquency:
                    first_delinquency = t
    c_labels, l_labels = config.count_labels, config.lender_labels
    if state.loans:
        hist = ["-"] * config.history_months
        for month, dpd in month_max.items():
            back = m_now - month
            if back < config.history_months:
                hist[back] = metro2_char(dpd)
        history = "".join(hist)
        worst = {}
        for label, k in zip(config.dpd_labels, config.dpd_windows_months, strict=True):
            worst[label] = max([v for m, v in month_max.items() if m_now - m < k] or [0])
        loans_opened = dict(zip(c_labels, opened, strict=True))
        applications = dict(zip(c_labels, apps, strict=True))
        lenders_applied = {lb: len(s) for lb, s in zip(l_labels, applied, strict=True)}
        lenders_borrowing = {lb: len(s) for lb, s in zip(l_labels, borrowing, strict=True)}
    else:  # fast path: activity-only borrowers are the common case
        history = "-" * config.history_months
        worst = dict.fromkeys(config.dpd_labels, 0)
        loans_opened = dict.fromkeys(c_labels, 0)
        applications = dict.fromkeys(c_labels, 0)
        lenders_applied = dict.fromkeys(l_labels, 0)
        lenders_borrowing = dict.fromkeys(l_labels, 0)
    s_counts, s_sums, travel, active = _activity(state, d_now, config)
    return BorrowerProfile(
        borrower_id=state.borrower_id,
        as_of_ms=asof,
        profile_version=state.version,
        open_loans=n_open,
        outstanding_principal=principal,
        loans_opened=loans_opened,
        applications=applications,
        lenders_applied=lenders_applied,
        lenders_borrowing=lenders_borrowing,
        current_days_past_due=cur_dpd,
        worst_days_past_due=worst,
        payment_history=history,
        repayments_on_time=on_time,
        repayments_late=late,
        defaults=defaults,
        write_offs=write_offs,
        first_delinquency_ms=first_delinquency,
        spend_count=s_counts,
        spend_sum=s_sums,
        travel_bookings=travel,
        platforms_active=active,
        first_seen_ms=state.first_seen if state.first_seen >= 0 else None,
        contributing_platforms=tuple(sorted(state.platforms)),
        last_event_ms=state.watermark if state.watermark >= 0 else None,
    )


def _activity(
    state: ProfileState, d_now: int, config: ProfileConfig
) -> tuple[dict[str, int], dict[str, dict[str, Decimal]], int, int]:
    labels = config.spend_labels
    active_start = d_now - config.active_window_days + 1
    active = sum(1 for t in state.act_platforms.values() if t // DAY_MS >= active_start)
    if not state.act_days:
        return dict.fromkeys(labels, 0), {label: {} for label in labels}, 0, active
    starts = [d_now - w + 1 for w in config.spend_windows_days]
    counts = [0] * len(starts)
    sums: list[dict[str, Decimal]] = [{} for _ in starts]
    travel_start = d_now - config.travel_window_days + 1
    travel = 0
    for day, (count, day_sums, trips, _keys) in state.act_days.items():
        for i, start in enumerate(starts):
            if day >= start:
                counts[i] += count
                acc = sums[i]
                for cur, amount in day_sums.items():
                    acc[cur] = acc.get(cur, Decimal(0)) + Decimal(amount)
        if day >= travel_start:
            travel += trips
    return (
        dict(zip(labels, counts, strict=True)),
        dict(zip(labels, sums, strict=True)),
        travel,
        active,
    )


def material_change(
    old: BorrowerProfile | None,
    new: BorrowerProfile,
    config: ProfileConfig = DEFAULT_CONFIG,
) -> bool:
    """Whether ``new`` differs from ``old`` in a feature a bank would act on.

    Provenance-only changes (``config.material_ignore``) are not material; spend figures
    are material only when a window's count or a currency's sum moves by at least
    ``config.spend_material_ratio`` of its old value (or appears / disappears).
    """
    if old is None:
        return True
    ratio = Decimal(str(config.spend_material_ratio))
    for f in fields(BorrowerProfile):
        name = f.name
        a, b = getattr(old, name), getattr(new, name)
        if name in config.material_ignore or a == b:
            continue
        if name == "spend_count":
            if _moved(
                {k: Decimal(v) for k, v in a.items()},
                {k: Decimal(v) for k, v in b.items()},
                ratio,
            ):
                return True
        elif name == "spend_sum":
            if a.keys() != b.keys() or any(_moved(a[k], b[k], ratio) for k in a):
                return True
        else:
            return True
    return False


def _moved(a: dict[str, Decimal], b: dict[str, Decimal], ratio: Decimal) -> bool:
    if a.keys() != b.keys():
        return True
    return any(abs(b[k] - a[k]) >= ratio * abs(a[k]) and b[k] != a[k] for k in a)


def profile_to_avro(profile: BorrowerProfile) -> dict[str, Any]:
    """Datum of ``schemas/io.creditstream.BorrowerProfile.avsc`` (what fastavro decodes back).

    Aggregates only, no borrower_id (it is the Kafka key). Money is ``Decimal`` at scale 2
    (the schema's decimal(18, 2)), times are aware UTC datetimes.
    """
    p = profile
    return {
        "as_of": _ts(p.as_of_ms),
        "profile_version": p.profile_version,
        "open_loans": p.open_loans,
        "outstanding_principal": {c: a.quantize(_CENT) for c, a in p.outstanding_principal.items()},
        "loans_opened": dict(p.loans_opened),
        "applications": dict(p.applications),
        "lenders_applied": dict(p.lenders_applied),
        "lenders_borrowing": dict(p.lenders_borrowing),
        "current_days_past_due": p.current_days_past_due,
        "worst_days_past_due": dict(p.worst_days_past_due),
        "payment_history": p.payment_history,
        "repayments_on_time": p.repayments_on_time,
        "repayments_late": p.repayments_late,
        "defaults": p.defaults,
        "write_offs": p.write_offs,
        "first_delinquency": _ts(p.first_delinquency_ms),
        "spend_count": dict(p.spend_count),
        "spend_sum": {
            w: {c: a.quantize(_CENT) for c, a in by.items()} for w, by in p.spend_sum.items()
        },
        "travel_bookings": p.travel_bookings,
        "platforms_active": p.platforms_active,
        "first_seen": _ts(p.first_seen_ms),
        "contributing_platforms": list(p.contributing_platforms),
        "last_event": _ts(p.last_event_ms),
    }


def profile_to_dict(profile: BorrowerProfile) -> dict[str, Any]:
    """Bank-facing JSON-safe form (``FeedRecord.profile``): the Avro datum in the JSON
    convention of ``schemas/examples/README.md`` (decimal strings, ISO-8601 UTC times)."""
    out: dict[str, Any] = _jsonable(profile_to_avro(profile))
    return out


_CENT = Decimal("0.01")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _ts(ms: int | None) -> datetime | None:
    return None if ms is None else _EPOCH + timedelta(milliseconds=ms)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return value

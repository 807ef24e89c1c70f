"""The borrower profile read model: snapshot on read, material change, bank-facing forms.

:func:`snapshot` derives every feature from the fold state *at read time*, so a feature
"in 30 days" is right whenever it is read (windows expire on read, no timer needed).
Window-keyed features are maps labelled by window (``"7d"``, ``"3m"``; see
``streams.windows.ProfileConfig``). The feature definitions are restated, independently,
in ``streams.oracle``; the two must agree.
"""

from __future__ import annotations

import functools
import re
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
    PROVENANCE_FIELDS,
    ProfileConfig,
    metro2_char,
    month_of_day,
)

Money = int | Decimal  # cents; see cents()
MoneyPairs = tuple[tuple[str, Money], ...]  # (currency, cents), sorted by currency
#: The profile as primitives, grouped for cheap comparison:
#: ``(core, spend_count, spend_sum, as_of_ms, profile_version, contributing_platforms,
#: last_event_ms)`` where ``core`` holds every other material field in
#: :class:`BorrowerProfile` order (open_loans, outstanding_principal, loans_opened,
#: applications, lenders_applied, lenders_borrowing, current_days_past_due,
#: worst_days_past_due, payment_history, repayments_on_time, repayments_late, defaults,
#: write_offs, first_delinquency_ms) then travel_bookings, platforms_active,
#: first_seen_ms. Window-keyed maps are tuples in the config's window order.
View = tuple[Any, ...]


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
    return view_to_profile(state.borrower_id, view(state, as_of_ms, config), config)


def view(state: ProfileState, as_of_ms: int, config: ProfileConfig = DEFAULT_CONFIG) -> View:
    """:func:`snapshot` as a :data:`View` (primitives only: what the stage compares,
    encodes and keeps). Money is exact: see :func:`cents`."""
    asof = max(as_of_ms, state.watermark)
    d_now = asof // DAY_MS
    # Fast path: borrowers without loans (activity only) are common.
    core = _credit(state, asof, d_now, config) if state.loans else _no_credit(config)
    s_counts, s_sums, travel, active = _activity(state, d_now, config)
    wm, first = state.watermark, state.first_seen
    return (
        (*core, travel, active, first if first >= 0 else None),
        s_counts,
        s_sums,
        asof,
        state.version,
        tuple(sorted(state.platforms)),
        wm if wm >= 0 else None,
    )


@functools.cache
def _no_credit(config: ProfileConfig) -> tuple[Any, ...]:
    zc, zl = (0,) * len(config.count_windows_days), (0,) * len(config.lender_windows_days)
    dpd = (0,) * len(config.dpd_windows_months)
    return (0, (), zc, zc, zl, zl, 0, dpd, "-" * config.history_months, 0, 0, 0, 0, None)


def _credit(state: ProfileState, asof: int, d_now: int, config: ProfileConfig) -> tuple[Any, ...]:
    """The credit part of the core (see :data:`View`) of a state with loans."""
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
    principal: dict[str, Money] = {}
    n_open = cur_dpd = on_time = late = defaults = write_offs = 0
    first_delinquency: int | None = None
    for loan in state.loans.values():
        recs = loan[L_RECS]
        latest = recs[-1]
        is_open = loan_status(latest) == OPEN
        if is_open:
            n_open += 1
            cur = latest[R_CUR]
            principal[cur] = principal.get(cur, 0) + cents(latest[R_PRINCIPAL])
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
    months, dpd_windows = config.history_months, config.dpd_windows_months
    hist = ["-"] * months
    worst = [0] * len(dpd_windows)
    for month, dpd in month_max.items():  # one pass for the history and every window
        back = m_now - month
        if back < months:
            hist[back] = metro2_char(dpd)
        for i, k in enumerate(dpd_windows):
            if back < k and dpd > worst[i]:
                worst[i] = dpd
    return (
        n_open,
        tuple(sorted(principal.items())),
        tuple(opened),
        tuple(apps),
        tuple(map(len, applied)),
        tuple(map(len, borrowing)),
        cur_dpd,
        tuple(worst),
        "".join(hist),
        on_time,
        late,
        defaults,
        write_offs,
        first_delinquency,
    )


def _activity(
    state: ProfileState, d_now: int, config: ProfileConfig
) -> tuple[tuple[int, ...], tuple[MoneyPairs, ...], int, int]:
    active_start = d_now - config.active_window_days + 1
    active = 0
    for t in state.act_platforms.values():
        active += t // DAY_MS >= active_start
    n = len(config.spend_windows_days)
    if not state.act_days:
        return (0,) * n, ((),) * n, 0, active
    starts = [d_now - w + 1 for w in config.spend_windows_days]
    counts = [0] * n
    sums: list[dict[str, Money]] = [{} for _ in starts]
    travel_start = d_now - config.travel_window_days + 1
    travel = 0
    for day, (count, day_sums, trips, _keys) in state.act_days.items():
        if day >= travel_start:
            travel += trips
        if count == 0 and not day_sums:
            continue
        for i, start in enumerate(starts):
            if day >= start:
                counts[i] += count
                acc = sums[i]
                for cur, amount in day_sums.items():
                    acc[cur] = acc.get(cur, 0) + cents(amount)
    return tuple(counts), tuple(tuple(sorted(s.items())) for s in sums), travel, active


def view_to_profile(
    borrower_id: str, v: View, config: ProfileConfig = DEFAULT_CONFIG
) -> BorrowerProfile:
    """The :class:`BorrowerProfile` a :data:`View` stands for."""
    core, s_counts, s_sums, asof, version, platforms, last = v
    c_labels, l_labels = config.count_labels, config.lender_labels
    s_labels = config.spend_labels
    return BorrowerProfile(
        borrower_id=borrower_id,
        as_of_ms=asof,
        profile_version=version,
        open_loans=core[0],
        outstanding_principal={c: to_decimal(a) for c, a in core[1]},
        loans_opened=dict(zip(c_labels, core[2], strict=True)),
        applications=dict(zip(c_labels, core[3], strict=True)),
        lenders_applied=dict(zip(l_labels, core[4], strict=True)),
        lenders_borrowing=dict(zip(l_labels, core[5], strict=True)),
        current_days_past_due=core[6],
        worst_days_past_due=dict(zip(config.dpd_labels, core[7], strict=True)),
        payment_history=core[8],
        repayments_on_time=core[9],
        repayments_late=core[10],
        defaults=core[11],
        write_offs=core[12],
        first_delinquency_ms=core[13],
        spend_count=dict(zip(s_labels, s_counts, strict=True)),
        spend_sum={
            w: {c: to_decimal(a) for c, a in by} for w, by in zip(s_labels, s_sums, strict=True)
        },
        travel_bookings=core[14],
        platforms_active=core[15],
        first_seen_ms=core[16],
        contributing_platforms=platforms,
        last_event_ms=last,
    )


def profile_to_view(p: BorrowerProfile) -> View:
    """Inverse of :func:`view_to_profile`. Window maps are read in their own order, which
    is their config's window order (they are built that way)."""

    def pairs(m: dict[str, Decimal]) -> MoneyPairs:
        return tuple(sorted((c, decimal_cents(a)) for c, a in m.items()))

    core = (
        p.open_loans,
        pairs(p.outstanding_principal),
        tuple(p.loans_opened.values()),
        tuple(p.applications.values()),
        tuple(p.lenders_applied.values()),
        tuple(p.lenders_borrowing.values()),
        p.current_days_past_due,
        tuple(p.worst_days_past_due.values()),
        p.payment_history,
        p.repayments_on_time,
        p.repayments_late,
        p.defaults,
        p.write_offs,
        p.first_delinquency_ms,
        p.travel_bookings,
        p.platforms_active,
        p.first_seen_ms,
    )
    return (
        core,
        tuple(p.spend_count.values()),
        tuple(pairs(m) for m in p.spend_sum.values()),
        p.as_of_ms,
        p.profile_version,
        tuple(p.contributing_platforms),
        p.last_event_ms,
    )


# -- money: exact, in cents ------------------------------------------------------------
_CENTS_RE = re.compile(r"-?[0-9]+(?:\.[0-9]{1,2})?")
_CENTS_CACHE: dict[str, Money] = {}


def cents(amount: str) -> Money:
    """A decimal string in cents, exactly: an ``int`` when it has at most two decimals
    (every amount off the wire: the schemas say decimal(18, 2)), else a ``Decimal``
    count of cents, so sums stay exact either way (``int + Decimal`` is exact)."""
    got = _CENTS_CACHE.get(amount)
    if got is None:
        if _CENTS_RE.fullmatch(amount):
            whole, _, frac = amount.partition(".")
            got = int(whole + frac.ljust(2, "0"))
        else:
            got = Decimal(amount).scaleb(2)
        if len(_CENTS_CACHE) > 100_000:  # a safety valve: amounts repeat a lot
            _CENTS_CACHE.clear()
        _CENTS_CACHE[amount] = got
    return got


def decimal_cents(amount: Decimal) -> Money:
    """A ``Decimal`` in cents (``int`` when whole cents)."""
    c = amount.scaleb(2)
    return int(c) if c == c.to_integral_value() else c


def to_decimal(c: Money) -> Decimal:
    """Cents back to a ``Decimal`` amount (exact)."""
    return (c if isinstance(c, Decimal) else Decimal(c)).scaleb(-2)


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


def material_view(old: View | None, new: View, config: ProfileConfig = DEFAULT_CONFIG) -> bool:
    """:func:`material_change` on views (same answer, without building profiles): one
    tuple comparison when nothing material moved, which is the common case."""
    if old is None:
        return True
    if config.material_ignore != PROVENANCE_FIELDS:  # the grouping below assumes these
        return material_change(
            view_to_profile("", old, config), view_to_profile("", new, config), config
        )
    if old[0] != new[0] or len(old[1]) != len(new[1]) or len(old[2]) != len(new[2]):
        return True  # (different lengths: the windows were reconfigured)
    num, den = _ratio(config.spend_material_ratio)
    if old[1] != new[1]:
        for a, b in zip(old[1], new[1], strict=True):
            if a != b and abs(b - a) * den >= num * abs(a):
                return True
    if old[2] != new[2]:
        for was, now in zip(old[2], new[2], strict=True):
            if was == now:
                continue
            da, db = dict(was), dict(now)
            if da.keys() != db.keys():
                return True
            for cur, a in da.items():
                b = db[cur]
                if a != b and abs(b - a) * den >= num * abs(a):
                    return True
    return False


@functools.cache
def _ratio(ratio: float) -> tuple[int, int]:
    # The exact fraction of the ratio as material_change reads it (Decimal(str(ratio))).
    return Decimal(str(ratio)).as_integer_ratio()


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

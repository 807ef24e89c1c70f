"""The borrower profile read model: :class:`BorrowerProfile`, its primitive form (a
:data:`View`), and exact money in cents.

``profile.view`` computes views from the fold state; ``profile.output``
decides material changes and renders the bank-facing forms. Both, and the stage's
hand-written Avro (``streams.stages.borrower.bodies``), share the types defined here.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

from streams.domain.profile.windows import DEFAULT_CONFIG, ProfileConfig

Money = int | Decimal  # cents; see cents()
MoneyPairs = tuple[tuple[str, Money], ...]  # (currency, cents), sorted by currency
Counts = tuple[int, ...]  # a window-keyed count map: one count per window, in config order
#: The credit features as primitives, in :class:`BorrowerProfile` order. Window-keyed
#: maps are tuples in the config's window order, money maps :data:`MoneyPairs`.
Credit = tuple[
    int,  # open_loans
    MoneyPairs,  # outstanding_principal
    Counts,  # loans_opened
    Counts,  # applications
    Counts,  # lenders_applied
    Counts,  # lenders_borrowing
    int,  # current_days_past_due
    Counts,  # worst_days_past_due
    str,  # payment_history
    int,  # repayments_on_time
    int,  # repayments_late
    int,  # defaults
    int,  # write_offs
    int | None,  # first_delinquency_ms
]
#: Every material field of a :data:`View` but the spend maps: ``(credit,
#: travel_bookings, platforms_active, first_seen_ms)``.
Core = tuple[Credit, int, int, int | None]
#: The profile as primitives, grouped for cheap comparison: ``(core, spend_count,
#: spend_sum, as_of_ms, profile_version, contributing_platforms, last_event_ms)``. Plain
#: tuples, not named ones: the stage marshals views (``marshal`` refuses tuple
#: subclasses). Code reading one field names it with the ``V_*`` indexes below (mypy
#: reads them as literals, so ``v[V_VERSION]`` is typed ``int``), and ``CORE_CREDIT`` /
#: ``CREDIT_PRINCIPAL`` below that.
View = tuple[Core, Counts, tuple[MoneyPairs, ...], int, int, tuple[str, ...], int | None]
#: What ``profile.view`` memoizes in a ``ProfileState``: ``(valid from, valid until,
#: credit)``, and ``(day, spend counts, spend sums, travel bookings, platforms active)``.
CreditMemo = tuple[int, int, Credit]
ActivityMemo = tuple[int, Counts, tuple[MoneyPairs, ...], int, int]
V_CORE: Final = 0
V_SPEND_COUNT: Final = 1
V_SPEND_SUM: Final = 2
V_AS_OF: Final = 3
V_VERSION: Final = 4
V_PLATFORMS: Final = 5
V_LAST_EVENT: Final = 6
CORE_CREDIT: Final = 0
CREDIT_PRINCIPAL: Final = 1


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


def view_to_profile(
    borrower_id: str, v: View, config: ProfileConfig = DEFAULT_CONFIG
) -> BorrowerProfile:
    """The :class:`BorrowerProfile` a :data:`View` stands for."""
    core, s_counts, s_sums, asof, version, platforms, last = v
    credit, travel, active, first = core
    c_labels, l_labels = config.count_labels, config.lender_labels
    s_labels = config.spend_labels
    return BorrowerProfile(
        borrower_id=borrower_id,
        as_of_ms=asof,
        profile_version=version,
        open_loans=credit[0],
        outstanding_principal={c: to_decimal(a) for c, a in credit[1]},
        loans_opened=dict(zip(c_labels, credit[2], strict=True)),
        applications=dict(zip(c_labels, credit[3], strict=True)),
        lenders_applied=dict(zip(l_labels, credit[4], strict=True)),
        lenders_borrowing=dict(zip(l_labels, credit[5], strict=True)),
        current_days_past_due=credit[6],
        worst_days_past_due=dict(zip(config.dpd_labels, credit[7], strict=True)),
        payment_history=credit[8],
        repayments_on_time=credit[9],
        repayments_late=credit[10],
        defaults=credit[11],
        write_offs=credit[12],
        first_delinquency_ms=credit[13],
        spend_count=dict(zip(s_labels, s_counts, strict=True)),
        spend_sum={
            w: {c: to_decimal(a) for c, a in by} for w, by in zip(s_labels, s_sums, strict=True)
        },
        travel_bookings=travel,
        platforms_active=active,
        first_seen_ms=first,
        contributing_platforms=platforms,
        last_event_ms=last,
    )


def profile_to_view(p: BorrowerProfile) -> View:
    """Inverse of :func:`view_to_profile`. Window maps are read in their own order, which
    is their config's window order (they are built that way)."""

    def pairs(m: dict[str, Decimal]) -> MoneyPairs:
        return tuple(sorted((c, decimal_cents(a)) for c, a in m.items()))

    credit = (
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
    )
    return (
        (credit, p.travel_bookings, p.platforms_active, p.first_seen_ms),
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


#: The largest amount every schema can carry, in cents: ``decimal(18, 2)`` holds 18
#: digits, so 9 999 999 999 999 999.99. Single amounts past it are refused at ingress;
#: an aggregate (outstanding principal, spend sums) can still add up past it.
MAX_CENTS: Final = 10**18 - 1


def map_money(v: View, conv: Callable[[Any], Any]) -> View:
    """``v`` with ``conv`` applied to every amount of its money pairs."""

    def pairs(ps: MoneyPairs) -> MoneyPairs:
        return tuple((cur, conv(amount)) for cur, amount in ps)

    (credit, travel, active, first), s_counts, s_sums, asof, version, platforms, last = v
    credit = (credit[0], pairs(credit[CREDIT_PRINCIPAL]), *credit[2:])
    s_sums = tuple(pairs(p) for p in s_sums)
    return ((credit, travel, active, first), s_counts, s_sums, asof, version, platforms, last)


def _saturate(c: Money) -> Money:
    return MAX_CENTS if c > MAX_CENTS else -MAX_CENTS if c < -MAX_CENTS else c


def saturate_money(v: View) -> View:
    """``v`` with every amount beyond :data:`MAX_CENTS` clamped to it (sign kept): what
    the exchange publishes when an aggregate outgrows the schemas (counted, alerted)."""
    return map_money(v, _saturate)


def money_fits(v: View) -> bool:
    """Whether every amount of ``v`` fits ``decimal(18, 2)`` (see :data:`MAX_CENTS`)."""
    principal = v[V_CORE][CORE_CREDIT][CREDIT_PRINCIPAL]
    amounts = [c for _, c in principal] + [c for pairs in v[V_SPEND_SUM] for _, c in pairs]
    return all(-MAX_CENTS <= c <= MAX_CENTS for c in amounts)

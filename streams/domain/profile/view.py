"""The borrower profile computed on read: :func:`snapshot` and its primitive form :func:`view`.

Every feature is derived from the fold state *at read time*, so a feature "in 30 days"
is right whenever it is read (windows expire on read, no timer needed). Window-keyed
features are maps labelled by window (``"7d"``, ``"3m"``; see
``profile.windows.ProfileConfig``). The feature definitions are restated, independently,
in ``streams.domain.profile.oracle``; the two must agree.

Reads are cheap where they can be: the credit part only changes with loan events or
with the read time, so the state memoizes it (``ProfileState.credit_memo``, never
persisted) for the span of read times over which it provably stays the same: until the
next UTC day starts or a closed loan's negative data ages out, whichever comes first.
Any change to the loans drops the memo (``streams.domain.profile.fold``); activity events, the
majority, then reuse it. The activity part is memoized the same way for the UTC day of
the read (``ProfileState.activity_memo``), for loan events to reuse.

The credit features are computed in ``streams.domain.profile.credit``; read models and
bank-facing forms live in ``profile.model`` and ``profile.output``, and
their names are re-exported here.
"""

from __future__ import annotations

from typing import Any

from streams.clock import DAY_MS
from streams.domain.profile.credit import credit_features
from streams.domain.profile.model import (
    ActivityMemo,
    BorrowerProfile,
    Counts,
    Credit,
    MoneyPairs,
    View,
    cents,
    view_to_profile,
)
from streams.domain.profile.state import ProfileState
from streams.domain.profile.windows import DEFAULT_CONFIG, ProfileConfig


def snapshot(
    state: ProfileState, as_of_ms: int, config: ProfileConfig = DEFAULT_CONFIG
) -> BorrowerProfile:
    """The profile as of ``max(as_of_ms, newest applied event)`` (profiles never look
    back before facts they already hold)."""
    return view_to_profile(state.borrower_id, view(state, as_of_ms, config), config)


def view(state: ProfileState, as_of_ms: int, config: ProfileConfig = DEFAULT_CONFIG) -> View:
    """:func:`snapshot` as a :data:`View` (primitives only: what the stage compares,
    encodes and keeps). Money is exact: see :func:`cents`."""
    wm = state.watermark
    asof = as_of_ms if as_of_ms > wm else wm
    d_now = asof // DAY_MS
    if state.memo_config is not config:  # the memos are for one config at a time
        state.credit_memo = state.activity_memo = None
        state.memo_config = config
    if state.loans:
        memo = state.credit_memo  # (valid from, valid until, credit): see module doc
        if memo is not None and memo[0] <= asof < memo[1]:
            credit = memo[2]
        else:
            credit, until = credit_features(state.loans, asof, d_now, config)
            state.credit_memo = (asof, until, credit)
    else:
        credit = _empty(config)[1]
    act = state.activity_memo  # (day, spend counts, spend sums, travel, active)
    if act is None or act[0] != d_now:
        act = state.activity_memo = _activity(state, d_now, config)
    _, s_counts, s_sums, travel, active = act
    first = state.first_seen
    return (
        (credit, travel, active, first if first >= 0 else None),
        s_counts,
        s_sums,
        asof,
        state.version,
        _platforms(state.platforms),
        wm if wm >= 0 else None,
    )


_PLATFORMS: dict[tuple[str, ...], tuple[str, ...]] = {}


def _platforms(platforms: dict[str, int]) -> tuple[str, ...]:
    """The sorted platform names, one shared tuple per set of names (few sets recur:
    sharing spares the garbage collector a new long-lived tuple per read)."""
    names = tuple(sorted(platforms))
    got = _PLATFORMS.get(names)
    if got is None:
        if len(_PLATFORMS) > 50_000:  # a safety valve
            _PLATFORMS.clear()
        got = _PLATFORMS[names] = names
    return got


_EMPTY: dict[int, tuple[ProfileConfig, Credit, tuple[Counts, tuple[MoneyPairs, ...]]]] = {}


def _empty(
    config: ProfileConfig,
) -> tuple[ProfileConfig, Credit, tuple[Counts, tuple[MoneyPairs, ...]]]:
    """(config, credit features without loans, spend features without activity),
    cached by config identity (hashing a config costs more than building these)."""
    got = _EMPTY.get(id(config))
    if got is None or got[0] is not config:
        zc, zl = (0,) * len(config.count_windows_days), (0,) * len(config.lender_windows_days)
        dpd = (0,) * len(config.dpd_windows_months)
        credit = (0, (), zc, zc, zl, zl, 0, dpd, "-" * config.history_months, 0, 0, 0, 0, None)
        n = len(config.spend_windows_days)
        if len(_EMPTY) > 100:  # configs are few; the entry keeps its id from reuse
            _EMPTY.clear()
        got = _EMPTY[id(config)] = (config, credit, ((0,) * n, ((),) * n))
    return got


def _activity(state: ProfileState, d_now: int, config: ProfileConfig) -> ActivityMemo:
    """(``d_now``, spend counts, spend sums, travel bookings, platforms active) read in
    day ``d_now``."""
    active_from = (d_now - config.active_window_days + 1) * DAY_MS
    active = 0
    for t in state.act_platforms.values():
        if t >= active_from:
            active += 1
    days = state.act_days
    if not days:
        return (d_now, *_empty(config)[2], 0, active)
    windows = config.spend_windows_days
    n = len(windows)
    s_max, t_window = config.spend_max, config.travel_window_days
    counts = [0] * n
    sums: list[dict[str, Any] | None] = [None] * n
    travel = 0
    for day, bucket in days.items():
        age = d_now - day
        count, day_sums, trips, _keys = bucket
        if trips and age < t_window:
            travel += trips
        if count == 0 or age >= s_max:
            continue
        for cur, amount in day_sums.items():
            c = cents(amount)
            for i in range(n):
                if age < windows[i]:
                    acc = sums[i]
                    if acc is None:
                        sums[i] = {cur: c}
                    else:
                        acc[cur] = acc.get(cur, 0) + c
        for i in range(n):
            if age < windows[i]:
                counts[i] += count
    pairs: list[MoneyPairs] = []
    last: MoneyPairs = ()
    for s in sums:
        p = () if s is None else tuple(s.items()) if len(s) == 1 else tuple(sorted(s.items()))
        if p == last:  # windows often hold the same sums: share them (fewer objects)
            p = last
        pairs.append(p)
        last = p
    return d_now, tuple(counts), tuple(pairs), travel, active

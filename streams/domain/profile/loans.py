"""The loan side of the profile fold (pure): effective records, corrections, pruning.

``streams.domain.profile.fold.apply_loan`` decodes nothing, decides duplicates and remembers
stale arrivals, then comes here: :func:`insert_record` for a new record (the common case),
:func:`apply_correction` for a ``CORRECTION`` (kept pending until its target arrives,
latest correction wins), :func:`replace_record` when a correction rewrites a record
already applied. Each returns the alerts of the transition it made (computed from the
loan summaries and window counts before and after, so alerts fire on transitions only,
whatever the arrival order). :func:`applied` and :func:`maybe_prune` are the
book-keeping every applied event does, activity events included. Every function
mutates the state in place; the caller has already invalidated the state's loan-side
memo (``ProfileState.credit_memo``).
"""

from __future__ import annotations

from bisect import insort

from streams.clock import DAY_MS
from streams.domain.profile.alerts import (
    Alert,
    delinquency_alert,
    loan_alerts,
    max_open_dpd,
    summarize,
    window_alerts,
    window_counts,
)
from streams.domain.profile.state import (
    APPLICATION,
    DISBURSEMENT,
    L_FIRST_DISB,
    L_MASK,
    L_RECS,
    R_CKEY,
    R_CT,
    R_KEY,
    R_T,
    R_TYPE,
    Pending,
    ProfileState,
    Record,
    prune,
    rebuild_loan,
)
from streams.domain.profile.windows import ProfileConfig

NO_ALERTS: tuple[Alert, ...] = ()
PRUNE_EVERY_DAYS = 7  # pruning only bounds size; doing it weekly keeps apply cheap


def apply_correction(
    state: ProfileState,
    ekey: str,
    t: int,
    platform: str,
    new: Pending,
    corrects_event_id: str | None,
    cfg: ProfileConfig,
) -> tuple[Alert, ...]:
    if ekey in state.cseen or ekey in state.lidx:
        return NO_ALERTS  # duplicate
    state.cseen[ekey] = t
    if corrects_event_id is None:
        applied(state, t, cfg)
        return NO_ALERTS
    target = f"{platform}\0{corrects_event_id}"
    lkey = state.lidx.get(target)
    if lkey is None:  # target not here (yet): keep the best correction for it
        best = state.pending.get(target)
        if best is None or (t, ekey) > (best[0], best[1]):
            state.pending[target] = new
        applied(state, t, cfg)
        return NO_ALERTS
    old = next(r for r in state.loans[lkey][L_RECS] if r[R_KEY] == target)
    if (t, ekey) <= (old[R_CT], old[R_CKEY]):  # a later correction already won
        applied(state, t, cfg)
        return NO_ALERTS
    rec: Record = (old[R_T], target, old[R_TYPE], *new[3:], t, ekey)
    return replace_record(state, (lkey, old), (f"{platform}\0{new[2]}", rec), t, cfg)


def replace_record(
    state: ProfileState,
    remove: tuple[str, Record] | None,
    add: tuple[str, Record],
    t: int,
    config: ProfileConfig,
) -> tuple[Alert, ...]:
    """Replace/insert one effective record; compute the alerts of the transition."""
    if remove is None:
        return insert_record(state, add[0], add[1], t, config)
    akey, rec = add
    keys = {akey, remove[0]}
    before = {k: summarize(state.loans.get(k)) for k in keys}
    types = {rec[R_TYPE]}
    wbefore = window_counts(state, types, config)
    loans = state.loans
    if remove[0] == akey:  # same loan: same (t, key), same slot
        recs = loans[akey][L_RECS]
        recs[recs.index(remove[1])] = rec
    else:
        old_loan = loans[remove[0]]
        old_loan[L_RECS].remove(remove[1])
        if old_loan[L_RECS]:
            rebuild_loan(old_loan)
        else:
            del loans[remove[0]]
        add_record(state, akey, rec)
    state.version += 1
    state.watermark = max(state.watermark, t)
    after = {k: summarize(loans.get(k)) for k in keys}
    alerts: list[Alert] = []
    for k in sorted(keys):
        alerts += loan_alerts(state, k, before[k], after[k], t)
    if any(after[k][2] > before[k][2] for k in keys):
        others = max_open_dpd(state, keys)
        old_dpd = max(others, *(b[2] for b in before.values()))
        new_dpd = max(others, *(a[2] for a in after.values()))
        alerts += delinquency_alert(old_dpd, new_dpd, t, config.delinquency_step_days)
    alerts += window_alerts(wbefore, window_counts(state, types, config), t, config)
    maybe_prune(state, config)
    return tuple(alerts) if alerts else NO_ALERTS


_WINDOW_TYPES = frozenset({DISBURSEMENT, APPLICATION})  # what window_counts can see


def insert_record(
    state: ProfileState, akey: str, rec: Record, t: int, config: ProfileConfig
) -> tuple[Alert, ...]:
    """:func:`replace_record` of a new record (no correction): the common case, with one loan."""
    before = summarize(state.loans.get(akey))
    typ = rec[R_TYPE]
    windowed = typ in _WINDOW_TYPES
    if windowed:
        types = {typ}
        wbefore = window_counts(state, types, config)
    add_record(state, akey, rec)
    state.version += 1
    state.watermark = max(state.watermark, t)
    after = summarize(state.loans[akey])
    alerts: list[Alert] = []
    if after != before:
        alerts = loan_alerts(state, akey, before, after, t)
        if after[2] > before[2]:
            others = max_open_dpd(state, {akey})
            old_dpd, new_dpd = max(others, before[2]), max(others, after[2])
            alerts += delinquency_alert(old_dpd, new_dpd, t, config.delinquency_step_days)
    if windowed:
        alerts += window_alerts(wbefore, window_counts(state, types, config), t, config)
    maybe_prune(state, config)
    return tuple(alerts) if alerts else NO_ALERTS


def add_record(state: ProfileState, akey: str, rec: Record) -> None:
    loan = state.loans.get(akey)
    if loan is None:
        state.loans[akey] = loan = [0, -1, [rec]]
    else:
        insort(loan[L_RECS], rec)
    loan[L_MASK] |= 1 << rec[R_TYPE]
    if rec[R_TYPE] == DISBURSEMENT and (loan[L_FIRST_DISB] < 0 or rec[R_T] < loan[L_FIRST_DISB]):
        loan[L_FIRST_DISB] = rec[R_T]
    state.lidx[rec[R_KEY]] = akey


def applied(state: ProfileState, t: int, config: ProfileConfig) -> None:
    """Book-keeping of every applied event: version, newest time, periodic pruning."""
    state.version += 1
    if t > state.watermark:
        state.watermark = t
        maybe_prune(state, config)


def maybe_prune(state: ProfileState, config: ProfileConfig) -> None:
    wm = state.watermark
    day = wm // DAY_MS
    if day < state.prune_day + PRUNE_EVERY_DAYS and state.prune_day >= 0:
        return
    # Nothing is older than the oldest event ever seen: when that is inside every
    # horizon, a pass would drop nothing (the common case, and cheap to know).
    first = state.first_seen
    if (
        first >= wm - config.loan_horizon_ms
        and first // DAY_MS >= day - config.activity_horizon_days
    ):
        state.prune_day = day
        return
    prune(
        state,
        config.loan_horizon_ms,
        config.activity_horizon_days,
        config.negative_retention_days * DAY_MS,
    )

"""Rolling borrower profiles: the pure fold over event time (no Kafka or Faust import).

Public API (what the borrower stage and the oracle tests call)::

    state = new_state(borrower_id)                      # or state_from_bytes(table bytes)
    state, alerts = apply(state, event, config)         # per event, any arrival order
    profile = snapshot(state, as_of_ms, config)         # read model; windows roll on read
    if material_change(previous_profile, profile, config): emit(profile_to_avro(profile))
    table[borrower_id] = state_to_bytes(state)

The loan side's record keeping (corrections, replacing records, the transitions'
alerts, pruning) is in ``streams.domain.profile.loans``; the read model in
``streams.domain.profile.view``.

Contract of :func:`apply`:

* it updates ``state`` in place and returns it (ownership passes to the call: keep no
  other reference you expect to stay unchanged; round-trip through bytes to copy);
* the final :func:`snapshot` is independent of the order events were applied in, equals
  ``streams.domain.profile.oracle.fold`` over the same events, and duplicates (same platform and
  event_id, also across restarts since dedup memory is in the state) never count twice
  while the original is remembered (see the residual limits below);
* a ``CORRECTION`` replaces the facts (not the time or type) of the event of the same
  platform it names, whether it arrives before or after that event; among several
  corrections of one event the latest (by occurred_at, then event_id) wins; a correction
  naming another correction, or nothing, changes nothing;
* ``profile_version`` grows by one per applied event and never goes backwards; every
  distinct event is applied, whenever it arrives, so the final version is the number of
  distinct events (as the oracle counts them), plus one per right the borrower exercised
  (an objection opened or closed, an erasure: ``streams.domain.rights``).

Stale events. An event older than the borrower's newest by more than its kind's
horizon (``loan_horizon_ms``, about 2 years, for loan events; ``activity_horizon_days``,
91 days, for activity) arrived *stale*: it can change no window read from now on, but
it is applied like any other event (ingress accepts events up to 1,826 days old):
counted in the version, taken by provenance (first seen, contributing platforms), and a
loan event's record is inserted into its loan, so it still decides whatever reaches it
(the loan's status when it is the loan's latest event, defaults / write-offs and the
first delinquency within retention, the loan's first disbursement; pruning keeps each
loan's latest record within retention for this: ``streams.domain.profile.state.prune``). A
stale activity event changes no feature. Its identity is remembered in
``ProfileState.stale`` until it leaves the 1,826-day retention, so its duplicate is not
counted twice.

Residual limits (stated in the BorrowerProfile schema too). Dedup memory of an event
applied in-window lasts while the profile holds it: until the borrower's newest event is
more than the horizon later (then pruned). A resend arriving after that is deduplicated
by ingress's dedup window (8 days of arrival), not by the profile: it would count again.
A correction changes its target only while the profile holds the target's record (always
within the loan horizon; beyond it, the records pruning keeps).
"""

from __future__ import annotations

import re
import sys
from decimal import Decimal

from streams.clock import DAY_MS
from streams.domain.profile.alerts import Alert
from streams.domain.profile.loans import NO_ALERTS, apply_correction, maybe_prune, replace_record
from streams.domain.profile.state import (
    CORRECTION,
    T_CODE,
    Pending,
    ProfileState,
    Record,
)
from streams.domain.profile.windows import DEFAULT_CONFIG, ProfileConfig
from streams.wire.events import ActivityKind, ExchangeEvent, LoanFacts

_EPOCH_ORDINAL = 719_163  # date(1970, 1, 1).toordinal()
_SPEND_EXCLUDED = ActivityKind.ACCOUNT_CHANGE
_TRAVEL = ActivityKind.TRAVEL_BOOKING
_CENTS = re.compile(r"[0-9]+\.[0-9][0-9]")


#: ``(typ, loan_id, lender, currency, principal, dpd, due_day, corrects_event_id)``: the
#: parameters of :func:`apply_loan` of those names (a plain tuple: it is star-unpacked
#: into the call on every loan event).
LoanArgs = tuple[int, str, str, str, str, int, int, str | None]


def loan_args(facts: LoanFacts) -> LoanArgs:
    """The loan parameters of :func:`apply_loan` after ``(state, platform, event_id,
    time)`` and before the config, from decoded facts (one mapping for every caller)."""
    due = facts.due_date.toordinal() - _EPOCH_ORDINAL if facts.due_date is not None else -1
    return (
        T_CODE[facts.type],
        facts.loan_id,
        facts.lender,
        facts.currency,
        str(facts.principal_outstanding),
        facts.days_past_due,
        due,
        facts.corrects_event_id,
    )


def apply(
    state: ProfileState, event: ExchangeEvent, config: ProfileConfig = DEFAULT_CONFIG
) -> tuple[ProfileState, tuple[Alert, ...]]:
    """Fold one event into ``state``; returns it and the alerts of the transition."""
    if event.borrower_id != state.borrower_id:
        raise ValueError("event belongs to another borrower")
    t, platform, eid = event.occurred_at_ms, event.platform, event.event_id
    act = event.activity
    if act is not None:
        alerts = apply_activity(state, platform, eid, t, act.kind, act.currency, act.amount, config)
        return state, alerts
    facts = event.loan
    if facts is None:
        raise ValueError("event carries neither loan nor activity facts")
    return state, apply_loan(state, platform, eid, t, *loan_args(facts), config)


def apply_activity(
    state: ProfileState,
    platform: str,
    event_id: str,
    t: int,
    kind: str,
    currency: str,
    amount: Decimal | str,
    config: ProfileConfig = DEFAULT_CONFIG,
) -> tuple[Alert, ...]:
    """:func:`apply` of an activity event given as its parts (the stage's decoded form).

    ``kind`` is an ``ActivityKind`` symbol, ``amount`` a ``Decimal`` or its ``str``
    (state keeps sums as exact decimal strings). The caller checks the borrower.
    """
    state.activity_memo = None  # the activity side may change
    # Provenance: idempotent and commutative, so taken even from stale or duplicates.
    if t < state.first_seen or state.first_seen < 0:
        state.first_seen = t
    if state.platforms.get(platform, -1) < t:
        state.platforms[platform] = t
    ekey = f"{platform}\0{event_id}"
    wm = state.watermark
    day = t // DAY_MS
    if wm >= 0 and day < wm // DAY_MS - config.activity_horizon_days:
        return _stale_activity(state, ekey, t, day)
    if ekey in state.lidx or ekey in state.cseen:
        return NO_ALERTS  # the same identity already used by a loan event
    bucket = state.act_days.get(day)
    if bucket is None:
        state.act_days[day] = bucket = [0, {}, 0, {ekey}]
    elif ekey in bucket[3]:
        return NO_ALERTS  # duplicate
    else:
        bucket[3].add(ekey)
    if kind != _SPEND_EXCLUDED:
        bucket[0] += 1
        sums = bucket[1]
        prev = sums.get(currency)
        sums[currency] = str(amount) if prev is None else add_decimal_str(prev, amount)
        if kind == _TRAVEL:
            bucket[2] += 1
    if state.act_platforms.get(platform, -1) < t:
        state.act_platforms[platform] = t
    state.version += 1
    if t > wm:
        state.watermark = t
        maybe_prune(state, config)
    return NO_ALERTS


def _stale_activity(state: ProfileState, ekey: str, t: int, day: int) -> tuple[Alert, ...]:
    """A stale activity event (outside every activity window from now on): applied, so
    counted in the version (provenance is already taken), and remembered in
    ``state.stale`` so that its duplicate is not counted again."""
    stale = state.stale
    if ekey in stale or ekey in state.lidx or ekey in state.cseen:
        return NO_ALERTS  # duplicate (of a stale arrival, or of a loan event)
    bucket = state.act_days.get(day)
    if bucket is not None and ekey in bucket[3]:
        return NO_ALERTS  # duplicate of an event applied in-window, not yet pruned
    stale[ekey] = t
    state.version += 1
    return NO_ALERTS


_TWO_DECIMALS: dict[str, int] = {}  # non-negative "digits.dd" -> its cents


def _two_decimals(s: str) -> int | None:
    got = _TWO_DECIMALS.get(s)
    if got is None and _CENTS.fullmatch(s):
        if len(_TWO_DECIMALS) > 100_000:  # a safety valve
            _TWO_DECIMALS.clear()
        got = _TWO_DECIMALS[s] = int(s.replace(".", ""))
    return got


def add_decimal_str(a: str, b: Decimal | str) -> str:
    """``str(Decimal(a) + Decimal(b))``, exactly, with integer arithmetic when both are
    non-negative with exactly two decimals (every amount off the wire is): the same
    string, several times cheaper than two Decimal parses and a Decimal add."""
    if isinstance(b, str):
        ca, cb = _two_decimals(a), _two_decimals(b)
        if ca is not None and cb is not None:
            q, r = divmod(ca + cb, 100)
            return f"{q}.{r:02d}"
    return str(Decimal(a) + Decimal(b))


def apply_loan(
    state: ProfileState,
    platform: str,
    event_id: str,
    t: int,
    typ: int,
    loan_id: str,
    lender: str,
    currency: str,
    principal: str,
    dpd: int,
    due_day: int,
    corrects_event_id: str | None,
    config: ProfileConfig = DEFAULT_CONFIG,
) -> tuple[Alert, ...]:
    """:func:`apply` of a loan event given as its parts (the stage's decoded form).

    ``typ`` is a ``T_CODE``; ``principal`` the outstanding principal as a decimal str;
    ``due_day`` the due date as days since epoch, -1 when unknown.
    """
    state.credit_memo = None  # the loan side may change
    if t < state.first_seen or state.first_seen < 0:  # provenance, as in apply_activity
        state.first_seen = t
    if state.platforms.get(platform, -1) < t:
        state.platforms[platform] = t
    ekey = f"{platform}\0{event_id}"
    same_day = state.act_days.get(t // DAY_MS)
    if same_day is not None and ekey in same_day[3]:
        return NO_ALERTS  # the same identity already used by an activity event
    wm = state.watermark
    if wm >= 0 and t < wm - config.loan_horizon_ms:  # stale: applied all the same
        stale = state.stale
        if ekey in stale or ekey in state.lidx or ekey in state.cseen:
            return NO_ALERTS  # duplicate
        stale[ekey] = t  # its record may be pruned soon: its identity stays remembered
    # Interned: shared in memory and as marshal refs.
    lender, currency = sys.intern(lender), sys.intern(currency)
    if typ == CORRECTION:
        new: Pending = (t, ekey, loan_id, lender, currency, principal, dpd, due_day)
        return apply_correction(state, ekey, t, platform, new, corrects_event_id, config)
    if ekey in state.lidx or ekey in state.cseen:
        return NO_ALERTS  # duplicate
    pend = state.pending.pop(ekey, None) if state.pending else None
    if pend is None:
        rec: Record = (t, ekey, typ, lender, currency, principal, dpd, due_day, -1, "")
    else:
        ct, ckey, loan_id, lender, currency, principal, dpd, due = pend
        rec = (t, ekey, typ, lender, currency, principal, dpd, due, ct, ckey)
    return replace_record(state, None, (f"{platform}\0{loan_id}", rec), t, config)

"""Property tests: the streaming fold equals the oracle whatever the arrival order.

Events span more than every horizon (``profile_factories``), so stale arrivals happen.
Duplicates are delivered as the pipeline delivers them (``arrival_order``): after their
original, while the profile still remembers it; a resend after that is ingress's to
drop (its dedup window), a stated limit of the profile (``streams.domain.profile.fold``).
"""

from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.domain.profile.fold import apply
from streams.domain.profile.model import BorrowerProfile
from streams.domain.profile.oracle import fold
from streams.domain.profile.state import ProfileState, new_state, state_from_bytes, state_to_bytes
from streams.domain.profile.view import snapshot
from streams.domain.profile.windows import DEFAULT_CONFIG
from streams.wire.events import ExchangeEvent, LoanEventType
from tests.unit.profile_factories import (
    DAY,
    HOUR,
    T0,
    arrival_order,
    event_sets,
    loan_event,
    remembered,
)

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def stream(events: list[ExchangeEvent], restart_every: int = 0) -> dict[str, ProfileState]:
    """Apply in the given order; optionally persist and restore every n events."""
    states: dict[str, ProfileState] = {}
    for i, ev in enumerate(events):
        state = states.get(ev.borrower_id) or new_state(ev.borrower_id)
        state, _ = apply(state, ev, DEFAULT_CONFIG)
        if restart_every and i % restart_every == 0:
            state = state_from_bytes(state_to_bytes(state))
        states[ev.borrower_id] = state
    return states


def profiles(states: dict[str, ProfileState], as_of: int) -> dict[str, BorrowerProfile]:
    return {bid: snapshot(s, as_of, DEFAULT_CONFIG) for bid, s in states.items()}


@SETTINGS
@given(event_sets(), st.randoms(use_true_random=False), st.integers(1, 7))
def test_any_arrival_order_equals_the_oracle(
    events: list[ExchangeEvent], rnd: random.Random, restart_every: int
) -> None:
    shuffled = arrival_order(events, rnd)
    states = stream(shuffled, restart_every)
    newest = max(e.occurred_at_ms for e in events)
    for as_of in (newest, newest + 7 * DAY, newest + 45 * DAY, newest + 800 * DAY):
        assert profiles(states, as_of) == fold(events, DEFAULT_CONFIG, as_of)


@SETTINGS
@given(event_sets(), st.randoms(use_true_random=False))
def test_two_orders_give_identical_profiles(
    events: list[ExchangeEvent], rnd: random.Random
) -> None:
    one, other = arrival_order(events, rnd), arrival_order(events, rnd)
    newest = max(e.occurred_at_ms for e in events)
    assert profiles(stream(one), newest) == profiles(stream(other), newest)


@SETTINGS
@given(event_sets(), st.randoms(use_true_random=False))
def test_replaying_everything_is_idempotent_and_silent(
    events: list[ExchangeEvent], rnd: random.Random
) -> None:
    arrived = arrival_order(events, rnd)
    states = stream(arrived)
    newest = max(e.occurred_at_ms for e in events)
    before = profiles(states, newest)
    replay = remembered(arrived)  # what the profiles recognise (the rest: ingress's)
    rnd.shuffle(replay)
    for ev in replay:
        restored = state_from_bytes(state_to_bytes(states[ev.borrower_id]))
        state, alerts = apply(restored, ev, DEFAULT_CONFIG)
        assert alerts == ()
        states[ev.borrower_id] = state
    assert profiles(states, newest) == before


@SETTINGS
@given(event_sets(), st.randoms(use_true_random=False))
def test_versions_are_monotonic_and_count_distinct_events(
    events: list[ExchangeEvent], rnd: random.Random
) -> None:
    shuffled = arrival_order(events, rnd)
    states: dict[str, ProfileState] = {}
    seen: set[tuple[str, str, str]] = set()
    for ev in shuffled:
        state = states.setdefault(ev.borrower_id, new_state(ev.borrower_id))
        old = state.version
        apply(state, ev, DEFAULT_CONFIG)
        key = (ev.borrower_id, ev.platform, ev.event_id)
        assert state.version == old + (key not in seen)
        seen.add(key)


@SETTINGS
@given(event_sets(max_events=20))
def test_state_bytes_round_trip(events: list[ExchangeEvent]) -> None:
    for state in stream(events).values():
        restored = state_from_bytes(state_to_bytes(state))
        assert restored == state
        assert state_from_bytes(state_to_bytes(restored)) == state


_LIFE = st.tuples(st.integers(0, 3000), st.integers(0, 900), st.integers(0, 900))


@SETTINGS
@given(st.lists(_LIFE, min_size=1, max_size=8), st.integers(0, 4000))
def test_negative_data_ages_out_and_history_matches_the_oracle_in_time_order(
    lives: list[tuple[int, int, int]], read_after_days: int
) -> None:
    """Loans that open, default and close over spans longer than every horizon, in time
    order (as ingress delivers them); defaults vanish 5 years after each loan ends."""
    events = []
    for i, (start, to_default, to_close) in enumerate(lives):
        times = [start, start + to_default, start + to_default + to_close]
        for j, typ in enumerate(
            [LoanEventType.DISBURSEMENT, LoanEventType.DEFAULT, LoanEventType.CLOSURE]
        ):
            ev = loan_event(
                f"e{i}.{j}",
                T0 + times[j] * DAY + i,
                typ,
                loan_id=f"L{i}",
                dpd=95 * (j == 1),
                principal="0",
            )
            events.append(ev)
    events.sort(key=lambda e: e.occurred_at_ms)
    states = stream(events)
    as_of = T0 + read_after_days * DAY
    assert profiles(states, as_of) == fold(events, DEFAULT_CONFIG, as_of)
    ends = [T0 + (s + d + c) * DAY + i for i, (s, d, c) in enumerate(lives)]
    for probe in (max(ends) + 1826 * DAY - 1, max(ends) + 1826 * DAY):
        (p,) = profiles(states, probe).values()
        assert p.defaults == sum(1 for end in ends if end + 1826 * DAY > probe)
        assert p == fold(events, DEFAULT_CONFIG, probe)[p.borrower_id]
    assert p.defaults == 0 and p.first_delinquency_ms is None


@SETTINGS
@given(event_sets(), st.randoms(use_true_random=False))
def test_alerts_fire_once_per_transition(events: list[ExchangeEvent], rnd: random.Random) -> None:
    """Each per-loan alert kind fires at most once per loan however events arrive."""
    shuffled = arrival_order(events, rnd)
    states: dict[str, ProfileState] = {}
    fired: dict[tuple[str, str], int] = {}
    for ev in shuffled:
        state = states.setdefault(ev.borrower_id, new_state(ev.borrower_id))
        _, alerts = apply(state, ev, DEFAULT_CONFIG)
        for alert in alerts:
            if alert.kind.value in ("new_loan", "new_application", "default"):
                assert ev.loan is not None
                key = (alert.kind.value, f"{ev.borrower_id}/{ev.platform}/{ev.loan.loan_id}")
                fired[key] = fired.get(key, 0) + 1
    corrected = any(e.loan is not None and e.loan.type is LoanEventType.CORRECTION for e in events)
    if not corrected:  # a correction may legitimately move an event to another loan
        assert all(n == 1 for n in fired.values()), fired


_READ_OFFSETS = st.sampled_from([0, 1, HOUR, DAY - 1, DAY, 7 * DAY, 95 * DAY, 800 * DAY])


@SETTINGS
@given(event_sets(), st.randoms(use_true_random=False), st.lists(_READ_OFFSETS, min_size=1))
def test_reads_between_events_equal_reads_of_a_fresh_copy(
    events: list[ExchangeEvent], rnd: random.Random, offsets: list[int]
) -> None:
    """A state memoizes what it derived for a read (profile.view); reads interleaved with
    events, at read times moving both ways, equal reads of a copy without the memo."""
    shuffled = arrival_order(events, rnd)
    newest = max(e.occurred_at_ms for e in events)
    states: dict[str, ProfileState] = {}
    for i, ev in enumerate(shuffled):
        state = states.setdefault(ev.borrower_id, new_state(ev.borrower_id))
        apply(state, ev, DEFAULT_CONFIG)
        for at in (newest + offsets[i % len(offsets)], newest + offsets[-1 - i % len(offsets)]):
            fresh = state_from_bytes(state_to_bytes(state))
            assert snapshot(state, at, DEFAULT_CONFIG) == snapshot(fresh, at, DEFAULT_CONFIG)
    for state in states.values():
        for at in (newest, newest + 7 * DAY, newest + 45 * DAY, newest + 800 * DAY):
            fresh = state_from_bytes(state_to_bytes(state))
            assert snapshot(state, at, DEFAULT_CONFIG) == snapshot(fresh, at, DEFAULT_CONFIG)


@SETTINGS
@given(event_sets(), st.randoms(use_true_random=False), st.integers(0, 1))
def test_state_bytes_decode_to_the_state_after_every_event(
    events: list[ExchangeEvent], rnd: random.Random, reload: int
) -> None:
    """After every event, on a live state (with its read memos) or a reloaded one."""
    shuffled = arrival_order(events, rnd)
    states: dict[str, ProfileState] = {}
    for ev in shuffled:
        state = states.setdefault(ev.borrower_id, new_state(ev.borrower_id))
        apply(state, ev, DEFAULT_CONFIG)
        data = state_to_bytes(state)
        assert state_from_bytes(data) == state
        if reload:
            states[ev.borrower_id] = state_from_bytes(data)

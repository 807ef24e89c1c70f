"""The profile half of the borrower stage (pure): byte formats, per-borrower coalescing,
emit decisions, and the store's commit/abort around pipelined batches."""

from __future__ import annotations

import marshal
from dataclasses import replace
from decimal import Decimal

from streams.domain.profile.fold import apply
from streams.domain.profile.oracle import fold
from streams.domain.profile.output import profile_to_avro
from streams.domain.profile.state import state_to_bytes
from streams.domain.profile.view import snapshot, view
from streams.domain.profile.windows import DEFAULT_CONFIG
from streams.runtime.registry import codec_for
from streams.stages.borrower.entry import borrower_entry_from_bytes, borrower_entry_to_bytes
from streams.stages.borrower.fold import Emit, process_events
from streams.stages.borrower.records import (
    OutputEncoder,
    ProfileEntry,
    new_profile_entry,
    profile_entry_from_bytes,
    profile_entry_to_bytes,
    profile_to_tuple,
)
from streams.stages.borrower.store import BorrowerStore, States
from streams.wire.events import ActivityKind, LoanEventType
from streams.wire.schemas import BORROWER_PROFILE, PROFILE_UPDATE
from tests.unit.profile_factories import (
    BORROWER,
    DAY,
    T0,
    activity_event,
    commit,
    load,
    loan_event,
)

CODEC = codec_for(None)
ENCODER = OutputEncoder(CODEC)
NOW = T0 + 30 * DAY
OTHER = "c" * 64


def states(emits: list[Emit]) -> States:
    """The state records the borrower batch writes for ``emits`` (no subscriptions)."""
    return {e.borrower_id: (e.partition, borrower_entry_to_bytes(e.entry), None) for e in emits}


def record(emit: Emit) -> bytes:
    data = borrower_entry_to_bytes(emit.entry)
    assert data is not None
    return data


def _loans(borrower: str = BORROWER) -> list:  # type: ignore[type-arg]
    return [
        loan_event("a1", T0, LoanEventType.APPLICATION, borrower=borrower),
        loan_event("d1", T0 + DAY, LoanEventType.DISBURSEMENT, borrower=borrower),
        loan_event("o1", T0 + 20 * DAY, LoanEventType.OVERDUE, dpd=35, borrower=borrower),
    ]


def test_entry_round_trips_through_bytes_with_and_without_emitted_profile() -> None:
    entry = new_profile_entry(BORROWER)
    assert profile_entry_from_bytes(profile_entry_to_bytes(entry)) == entry
    store = BorrowerStore(10)
    (emit,) = process_events([(0, e) for e in _loans()], store.get, NOW, DEFAULT_CONFIG, ENCODER)
    back = profile_entry_from_bytes(profile_entry_to_bytes(emit.entry))
    assert back.state == emit.entry.state
    assert back.emitted == emit.entry.emitted
    assert back.emitted is not None
    assert back.emitted_profile() == snapshot(back.state, NOW)


def test_entries_in_the_previous_formats_are_still_read() -> None:
    store = BorrowerStore(10)
    (emit,) = process_events([(0, e) for e in _loans()], store.get, NOW, DEFAULT_CONFIG, ENCODER)
    profile = emit.entry.emitted_profile()
    assert profile is not None
    state = state_to_bytes(emit.entry.state)
    head = len(state).to_bytes(4, "big") + state
    body = ENCODER.body_of(ENCODER.profile(emit.entry.emitted or ()))
    for old in (
        b"\x01" + head + marshal.dumps(profile_to_tuple(profile)),  # format 1
        b"\x02" + head + body,  # format 2: the Avro body of the emitted profile
        b"\x02" + head,  # format 2, nothing emitted yet
    ):
        back = profile_entry_from_bytes(old)
        assert back.state == emit.entry.state
        assert back.emitted == (emit.entry.emitted if len(old) > 5 + len(state) else None)
        assert profile_entry_from_bytes(profile_entry_to_bytes(back)) == back


def test_an_emitted_amount_below_a_cent_survives_the_state_record() -> None:
    entry = new_profile_entry(BORROWER)
    apply(entry.state, activity_event("s1", T0, amount="10.505"))
    v = view(entry.state, NOW)
    assert isinstance(v[2][1][0][1], Decimal)  # spend sum 90d, in cents: 1050.5
    entry.emit(v)
    data = profile_entry_to_bytes(entry)
    assert data[0] == 4
    back = profile_entry_from_bytes(data)
    assert back == entry and back.emitted == v


def test_one_emit_per_borrower_per_batch_with_alerts_in_order_and_latest_version() -> None:
    events = _loans() + _loans(OTHER) + [activity_event("x1", T0 + 2 * DAY)]
    store = BorrowerStore(10)
    emits = process_events([(1, e) for e in events], store.get, NOW, DEFAULT_CONFIG, ENCODER)
    assert [e.borrower_id for e in emits] == [BORROWER, OTHER]
    mine = emits[0]
    assert mine.version == 4 and mine.partition == 1
    kinds = [str(a.kind) for a in mine.alerts]
    assert kinds == ["new_application", "new_loan", "delinquency_worsened"]
    assert mine.profile is not None and mine.update is not None


def test_emitted_profile_equals_the_oracle_and_update_wraps_it() -> None:
    events = [*_loans(), activity_event("x1", T0 + 2 * DAY)]
    store = BorrowerStore(10)
    (emit,) = process_events([(0, e) for e in events], store.get, NOW, DEFAULT_CONFIG, ENCODER)
    assert emit.profile is not None and emit.update is not None
    expected = fold(events, DEFAULT_CONFIG, NOW)[BORROWER]
    _, datum = CODEC.decode(emit.profile, {BORROWER_PROFILE})
    assert datum == CODEC.decode(CODEC.encode(BORROWER_PROFILE, profile_to_avro(expected)))[1]
    name, update = CODEC.decode(emit.update)
    assert name == PROFILE_UPDATE
    assert update["borrower_id"] == BORROWER
    assert update["profile_version"] == expected.profile_version == 4
    assert update["material"] is True
    assert update["profile"] == datum
    assert next(a["kind"] for a in update["alerts"]) == "new_application"
    assert int(update["last_ingested_at"].timestamp() * 1000) == max(
        e.ingested_at_ms for e in events
    )


def test_update_bytes_equal_a_plain_encode_of_the_whole_record() -> None:
    store = BorrowerStore(10)
    (emit,) = process_events([(0, e) for e in _loans()], store.get, NOW, DEFAULT_CONFIG, ENCODER)
    assert emit.update is not None
    _, update = CODEC.decode(emit.update)
    assert CODEC.encode(PROFILE_UPDATE, update) == emit.update


def test_duplicates_and_immaterial_changes_emit_no_profile_and_no_update() -> None:
    store = BorrowerStore(10)
    first = process_events([(0, e) for e in _loans()], store.get, NOW, DEFAULT_CONFIG, ENCODER)
    commit(store, states(first))
    again = process_events([(0, e) for e in _loans()], store.get, NOW, DEFAULT_CONFIG, ENCODER)
    assert [(e.profile, e.update, e.version) for e in again] == [(None, None, 3)]
    commit(store, states(again))
    # Eleven purchases: the first few are material, later +1s move spend by < 20%.
    spend = [activity_event(f"s{i}", T0 + 25 * DAY + i) for i in range(11)]
    for ev in spend[:10]:
        commit(store, states(process_events([(0, ev)], store.get, NOW, DEFAULT_CONFIG, ENCODER)))
    (last,) = process_events([(0, spend[10])], store.get, NOW, DEFAULT_CONFIG, ENCODER)
    assert last.profile is None and last.update is None and last.version == 14
    # With a zero ratio every spend move is material.
    zero = replace(DEFAULT_CONFIG, spend_material_ratio=0.0)
    store.abort()
    (again_last,) = process_events([(0, spend[10])], store.get, NOW, zero, ENCODER)
    assert again_last.profile is not None


def test_material_is_judged_against_the_last_emitted_profile_so_drift_adds_up() -> None:
    store = BorrowerStore(10)
    versions = []
    for i in range(40):
        ev = activity_event(f"s{i}", T0 + 25 * DAY + i, ActivityKind.PURCHASE)
        emits = process_events([(0, ev)], store.get, NOW, DEFAULT_CONFIG, ENCODER)
        commit(store, states(emits))
        if emits[0].profile is not None:
            versions.append(emits[0].version)
    # Never every event, but a 20% drift keeps emitting: 1,2,3,4,5,6,8,10,12,15,19,23,28,34
    assert len(versions) > 8 and versions[-1] > 30
    assert versions == sorted(versions)


def test_abort_forgets_mutations_and_commit_keeps_them() -> None:
    store = BorrowerStore(10)
    process_events([(0, e) for e in _loans()], store.get, NOW, DEFAULT_CONFIG, ENCODER)
    store.abort()
    assert store.committed(0, BORROWER) is None
    assert store.get(0, BORROWER).state.version == 0
    store.abort()
    emits = process_events([(0, e) for e in _loans()], store.get, NOW, DEFAULT_CONFIG, ENCODER)
    commit(store, states(emits))
    assert store.committed(0, BORROWER) == record(emits[0])
    extra = [loan_event("r1", T0 + 21 * DAY, LoanEventType.REPAYMENT)]
    process_events([(0, e) for e in extra], store.get, NOW, DEFAULT_CONFIG, ENCODER)
    store.abort()
    assert store.get(0, BORROWER).state.version == 3  # decoded again from committed bytes


def test_restore_is_lazy_and_rebalance_forgets_partitions() -> None:
    source = BorrowerStore(10)
    emits = process_events([(3, e) for e in _loans()], source.get, NOW, DEFAULT_CONFIG, ENCODER)
    store = BorrowerStore(0)
    load(store, 3, BORROWER, record(emits[0]))
    assert store.size() == 1 and store.hot() == 0
    entry: ProfileEntry = store.get(3, BORROWER)
    assert entry.state.version == 3 and entry.emitted is not None
    assert snapshot(entry.state, NOW) == snapshot(emits[0].entry.state, NOW)
    commit(store, {})
    assert store.hot() == 0  # hot cache bounded at 0
    load(store, 3, BORROWER, None)  # tombstone
    assert store.size() == 0
    load(store, 3, BORROWER, record(emits[0]))
    store.forget([3])
    assert store.size() == 0


def test_touched_borrowers_are_handed_out_per_batch_so_one_batch_can_be_undone() -> None:
    # The stage folds batch N+1 while batch N commits: undoing N+1 must not lose N.
    store = BorrowerStore(10)
    loans = [(0, e) for e in _loans()]
    first = states(process_events(loans, store.get, NOW, DEFAULT_CONFIG, ENCODER))
    assert store.take_touched() == [BORROWER]  # once per batch, not per event
    second = [loan_event("r1", T0 + 21 * DAY, LoanEventType.REPAYMENT)]
    process_events([(0, e) for e in second], store.get, NOW, DEFAULT_CONFIG, ENCODER)
    touched = store.take_touched()
    commit(store, first)
    store.abort(touched)
    assert store.take_touched() == []
    assert store.get(0, BORROWER).state.version == 3  # batch one committed, two undone


def test_a_small_hot_cache_keeps_what_the_next_batch_folded_on_until_it_commits() -> None:
    # The stage folds batch N+1, then commits batch N (which trims the hot cache), then
    # commits N+1: trimming must not drop N+1's entries, the only place its events live.
    store = BorrowerStore(0)
    events = [loan_event(f"r{i}", T0 + i * DAY, LoanEventType.REPAYMENT) for i in range(4)]
    previous: States = {}
    for ev in events:
        emits = states(process_events([(0, ev)], store.get, NOW, DEFAULT_CONFIG, ENCODER))
        store.take_touched()
        commit(store, previous)
        previous = emits
    commit(store, previous)
    assert borrower_entry_from_bytes(store.committed(0, BORROWER) or b"").state.version == len(
        events
    )
    assert store.hot() == 1  # the last batch handed out is kept until the next one


MAX_AMOUNT = Decimal("9999999999999999.99")  # decimal(18, 2)'s largest
HUGE = "9000000000000000.00"  # valid alone (ingress accepts it), not twice


def _decoded_profile(encoded: bytes) -> dict:  # type: ignore[type-arg]
    return CODEC.decode(encoded, BORROWER_PROFILE)[1]  # type: ignore[no-any-return]


def test_an_aggregate_past_the_schema_is_published_clamped_and_flagged() -> None:
    """Two valid disbursements whose sum no schema can carry: the borrower's profile
    goes out with the largest amount, flagged; the exact sum stays in the state; the
    batch (and every other borrower in it) is not held up."""
    events = [
        loan_event("d1", T0, LoanEventType.DISBURSEMENT, loan_id="L1", principal=HUGE),
        loan_event("d2", T0 + DAY, LoanEventType.DISBURSEMENT, loan_id="L2", principal=HUGE),
        activity_event("s1", T0, amount=HUGE, borrower=OTHER),
        activity_event("s2", T0 + DAY, amount=HUGE, borrower=OTHER),
        loan_event("d3", T0, LoanEventType.DISBURSEMENT, borrower="d" * 64),
    ]
    codec_only = OutputEncoder(CODEC)
    codec_only.hand_written = False  # the reference path clamps the same way
    for encoder in (ENCODER, codec_only):
        store = BorrowerStore(10)
        emits = {
            e.borrower_id: e
            for e in process_events(
                [(0, e) for e in events], store.get, NOW, DEFAULT_CONFIG, encoder
            )
        }
        loans, spend, fine = emits[BORROWER], emits[OTHER], emits["d" * 64]
        assert loans.saturated and spend.saturated and not fine.saturated
        assert loans.profile is not None and spend.profile is not None
        assert _decoded_profile(loans.profile)["outstanding_principal"] == {"EUR": MAX_AMOUNT}
        assert set(_decoded_profile(spend.profile)["spend_sum"]["90d"].values()) == {MAX_AMOUNT}
        update = CODEC.decode(loans.update or b"", PROFILE_UPDATE)[1]
        assert update["profile"]["outstanding_principal"] == {"EUR": MAX_AMOUNT}
        exact = snapshot(loans.entry.state, NOW).outstanding_principal
        assert exact == {"EUR": Decimal(HUGE) * 2}
        # What was published is what later changes are judged against.
        assert borrower_entry_from_bytes(record(loans)).emitted == loans.entry.emitted

"""The borrower batch (pure): consents, fold and delivery in one pass, and its state.

What the two hops (profile stage, fan-out) did, asserted on the fused batch: the
consent timeline (NO_DATA_YET, snapshots, revocation, expiry at delivery time), one
delivery per active subscription per update keyed by the bank's own reference, the
bank view equal to the ProfileUpdate's, audit fields on every data delivery, and the
state record round trip (with the migration from profile-state records).
"""

from __future__ import annotations

from typing import Any

from streams.domain.delivery import ALERT, NO_DATA_YET, PROFILE_UPDATE, SUBSCRIPTION_ACK, bank_view
from streams.domain.profile.windows import DEFAULT_CONFIG
from streams.runtime.registry import codec_for
from streams.stages.borrower.batch import Outcome, process_batch
from streams.stages.borrower.entry import (
    BorrowerEntry,
    borrower_entry_from_bytes,
    borrower_entry_to_bytes,
    new_borrower_entry,
)
from streams.stages.borrower.events import op_of
from streams.stages.borrower.expiries import PREFIX
from streams.stages.borrower.records import OutputEncoder, profile_entry_to_bytes
from streams.stages.borrower.store import BorrowerStore
from streams.wire.consents import Action, ConsentRequest, Purpose
from streams.wire.events import LoanEventType
from streams.wire.schemas import PROFILE_UPDATE as PROFILE_UPDATE_SCHEMA
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


def req(bank: str, ref: str, action: Action = Action.SUBSCRIBE, expires: int = NOW + 60_000) -> Any:
    return ConsentRequest(
        bank, BORROWER, 1, ref, action, f"consent-{ref}", Purpose.ACCOUNT_REVIEW, expires, NOW
    )


def loan(n: int, typ: LoanEventType = LoanEventType.DISBURSEMENT, **kw: Any) -> Any:
    return op_of(0, loan_event(f"e{n}", T0 + n * DAY, typ, loan_id=f"L{n}", **kw))


def spend(n: int, amount: str = "10.00") -> Any:
    return op_of(0, activity_event(f"a{n}", NOW - n * 1000, amount=amount))


def run(
    store: BorrowerStore, requests: Any = (), ops: Any = (), now: int = NOW, due: Any = ()
) -> Outcome:
    out = process_batch(
        [(0, r) for r in requests], ops, due, store.get, now, DEFAULT_CONFIG, ENCODER
    )
    store.take_touched()
    commit(store, out.states)
    return out


def kinds(out: Outcome) -> list[tuple[str, str, int, bool]]:
    return [
        (d.bank, d.record["kind"], d.record["profile_version"], d.audit is not None)
        for _, d in out.deliveries
    ]


def update_view(out: Outcome) -> str:
    """The bank view of the batch's (one) ProfileUpdate, decoded as an auditor would."""
    (emit,) = [e for e in out.emits if e.update is not None]
    assert emit.update is not None
    return bank_view(CODEC.decode(emit.update, {PROFILE_UPDATE_SCHEMA})[1]["profile"])


def test_no_data_yet_then_updates_to_each_bank_under_its_own_ref() -> None:
    store = BorrowerStore(10)
    out = run(store, [req("a", "ra"), req("b", "rb")])
    assert kinds(out) == [("a", NO_DATA_YET, 0, False), ("b", NO_DATA_YET, 0, False)]
    out = run(store, ops=[spend(1)])
    assert kinds(out) == [("a", PROFILE_UPDATE, 1, True), ("b", PROFILE_UPDATE, 1, True)]
    for _, d in out.deliveries:
        assert d.key == {"a": "ra", "b": "rb"}[d.bank]
        assert d.audit is not None and d.audit["borrower_id"] == BORROWER
        assert d.record["ingested_at"] == NOW - 1000 + 5
        assert d.record["profile"].json() == update_view(out)  # what the update stream says
        assert BORROWER not in str(d.record) + d.record["profile"].json()


def test_a_late_subscriber_gets_the_last_update_as_an_audited_snapshot() -> None:
    store = BorrowerStore(10)
    first = run(store, ops=[loan(1), loan(2)])
    assert first.deliveries == []
    out = run(store, [req("a", "ra")])
    ((_, d),) = out.deliveries
    assert (d.record["kind"], d.record["profile_version"]) == (SUBSCRIPTION_ACK, 2)
    assert d.record["profile"].json() == update_view(first) and d.audit is not None


def test_requests_come_before_the_batch_events_so_a_new_subscriber_gets_both() -> None:
    store = BorrowerStore(10)
    run(store, ops=[spend(1)])
    out = run(store, [req("a", "ra")], [loan(2)])
    assert kinds(out) == [("a", SUBSCRIPTION_ACK, 1, True), ("a", ALERT, 2, True)]


def test_immaterial_changes_without_alerts_are_not_sent_and_alerts_always_are() -> None:
    store = BorrowerStore(10)
    run(store, [req("a", "ra")], [spend(1, "100.00")])
    out = run(store, ops=[spend(1, "100.00")])  # a resend: nothing material
    assert out.deliveries == [] and out.emits[0].update is None
    out = run(store, ops=[loan(1)])  # a new loan: an alert
    assert [(k[0], k[1]) for k in kinds(out)] == [("a", ALERT)]


def test_revocation_stops_delivery_for_that_bank_only() -> None:
    store = BorrowerStore(10)
    run(store, [req("a", "ra"), req("b", "rb")])
    out = run(store, [req("a", "ra", Action.REVOKE)], [spend(1)])
    assert kinds(out) == [("a", SUBSCRIPTION_ACK, 0, False), ("b", PROFILE_UPDATE, 1, True)]


def test_expired_consent_delivers_nothing_from_its_expiry_on_and_is_pruned() -> None:
    store = BorrowerStore(10)
    run(store, [req("a", "ra", expires=NOW + 1000), req("b", "rb", expires=NOW + 10**6)])
    assert kinds(run(store, ops=[loan(1)], now=NOW + 999))[0][0] == "a"
    assert store.due(NOW + 999) == []
    out = run(store, ops=[loan(2)], now=NOW + 1000)
    assert [k[0] for k in kinds(out)] == ["b"] and out.expired == 1
    assert set(store.get(0, BORROWER).subs) == {"b"}


def test_the_timer_prunes_due_entries_without_input() -> None:
    store = BorrowerStore(10)
    run(store, [req("a", "ra", expires=NOW + 1000)])
    due = store.due(NOW + 1000)
    assert due == [(0, BORROWER)]
    out = run(store, now=NOW + 1000, due=due)
    assert out.expired == 1 and out.states[BORROWER][1] is None  # nothing left: tombstone
    assert store.committed(0, BORROWER) is None
    assert store.due(NOW + 1000) == []  # meets the borrower's index key, stale: dropped
    assert store.size() == 0


def test_the_expiry_index_does_not_grow_with_updates_and_follows_renewals() -> None:
    store = BorrowerStore(10)
    run(store, [req("a", "ra", expires=NOW + 1000)])
    for n in range(1, 30):
        run(store, ops=[loan(n)])
    index = [k for k, _ in store.partition_store(0).items() if k.startswith(PREFIX)]
    assert len(index) == 1  # the bound is the point: one key, rewritten in place
    run(store, [req("a", "ra", expires=NOW + 5000)])  # renewed before it expired
    assert store.due(NOW + 1000) == []
    assert store.due(NOW + 5000) == [(0, BORROWER)]


def test_state_record_round_trips_and_restore_indexes_expiries() -> None:
    store = BorrowerStore(10)
    out = run(store, [req("a", "ra")], [loan(1), loan(2, LoanEventType.OVERDUE, dpd=40)])
    record = out.states[BORROWER][1]
    assert record is not None
    back = borrower_entry_from_bytes(record)
    entry = store.get(0, BORROWER)
    assert (back.state, back.emitted, back.subs) == (entry.state, entry.emitted, entry.subs)
    assert (back.last, back.last_version) == (entry.last, entry.last_version) != (None, 0)
    fresh = BorrowerStore(10)
    load(fresh, 0, BORROWER, record)
    assert fresh.due(NOW + 60_000) == [(0, BORROWER)]
    assert borrower_entry_to_bytes(new_borrower_entry(BORROWER)) is None


def test_a_profile_state_record_reads_as_an_entry_without_subscriptions() -> None:
    store = BorrowerStore(10)
    run(store, ops=[loan(1)])
    entry = store.get(0, BORROWER)
    old = borrower_entry_from_bytes(profile_entry_to_bytes(entry))  # format 3: migration
    assert isinstance(old, BorrowerEntry)
    assert (old.state, old.emitted, old.subs) == (entry.state, entry.emitted, {})
    assert (old.last, old.last_version) == (entry.emitted, 1)


def test_an_aborted_batch_leaves_the_committed_entry() -> None:
    store = BorrowerStore(10)
    run(store, [req("a", "ra")], [loan(1)])
    process_batch([], [loan(2)], [], store.get, NOW, DEFAULT_CONFIG, ENCODER)
    store.abort()
    entry = store.get(0, BORROWER)
    assert entry.state.version == 1 and set(entry.subs) == {"a"}

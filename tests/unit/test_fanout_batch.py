"""The fan-out batch (pure): consent timeline, snapshots, expiry at delivery, state bytes."""

from __future__ import annotations

from typing import Any

from streams.domain.delivery import ALERT, NO_DATA_YET, PROFILE_UPDATE, SUBSCRIPTION_ACK, bank_view
from streams.domain.profile.output import profile_to_avro
from streams.stages.fanout.batch import Outcome, ProfileChange, process_batch
from streams.stages.fanout.state import (
    FanoutEntry,
    FanoutStore,
    fanout_entry_from_bytes,
    fanout_entry_to_bytes,
)
from streams.wire.consents import Action, ConsentRequest, Purpose
from tests.unit.profile_factories import BORROWER
from tests.unit.test_fanout import PROFILE

NOW = 1_780_000_000_000
DATUM = profile_to_avro(PROFILE)


def req(bank: str, ref: str, action: Action = Action.SUBSCRIBE, expires: int = NOW + 60_000) -> Any:
    return ConsentRequest(
        bank, BORROWER, 1, ref, action, f"consent-{ref}", Purpose.ACCOUNT_REVIEW, expires, NOW
    )


def change(version: int, material: bool = True, alerts: Any = ()) -> ProfileChange:
    return ProfileChange(BORROWER, version, material, NOW - 50, list(alerts), DATUM)


def run(store: FanoutStore, items: list[Any], now: int = NOW, due: Any = ()) -> Outcome:
    out = process_batch([(0, i) for i in items], due, store.get, now)
    for bid, (p, record, expires) in out.states.items():
        store.put(p, bid, record, expires)
    return out


def kinds(out: Outcome) -> list[tuple[str, str, int, bool]]:
    return [
        (d.bank, d.record["kind"], d.record["profile_version"], d.audit is not None)
        for _, d in out.deliveries
    ]


def test_no_data_yet_then_updates_to_each_bank_under_its_own_ref() -> None:
    store = FanoutStore()
    out = run(store, [req("a", "ra"), req("b", "rb")])
    assert kinds(out) == [("a", NO_DATA_YET, 0, False), ("b", NO_DATA_YET, 0, False)]
    out = run(store, [change(3)])
    assert kinds(out) == [("a", PROFILE_UPDATE, 3, True), ("b", PROFILE_UPDATE, 3, True)]
    for _, d in out.deliveries:
        assert d.key == {"a": "ra", "b": "rb"}[d.bank]
        assert d.audit is not None and d.audit["borrower_id"] == BORROWER
        assert d.record["ingested_at"] == NOW - 50
        assert BORROWER not in str(d.record)


def test_a_late_subscriber_gets_the_current_snapshot_audited() -> None:
    store = FanoutStore()
    assert run(store, [change(2), change(5)]).deliveries == []
    out = run(store, [req("a", "ra")])
    ((_, d),) = out.deliveries
    assert (d.record["kind"], d.record["profile_version"]) == (SUBSCRIPTION_ACK, 5)
    assert d.record["profile"] == bank_view(DATUM) and d.audit is not None


def test_stale_versions_are_skipped_and_immaterial_changes_without_alerts_not_sent() -> None:
    store = FanoutStore()
    run(store, [req("a", "ra"), change(4)])
    out = run(store, [change(4), change(3), change(6, material=False)])
    assert out.stale == 2 and out.deliveries == []
    out = run(store, [change(7, material=False, alerts=[{"kind": "PAYOFF", "reason": "r"}])])
    assert kinds(out) == [("a", ALERT, 7, True)]


def test_revocation_stops_delivery_for_that_bank_only() -> None:
    store = FanoutStore()
    run(store, [req("a", "ra"), req("b", "rb")])
    out = run(store, [req("a", "ra", Action.REVOKE), change(2)])
    assert kinds(out) == [("a", SUBSCRIPTION_ACK, 0, False), ("b", PROFILE_UPDATE, 2, True)]


def test_expired_consent_delivers_nothing_from_its_expiry_on_and_is_pruned() -> None:
    store = FanoutStore()
    run(store, [req("a", "ra", expires=NOW + 1000), req("b", "rb", expires=NOW + 10**6)])
    assert kinds(run(store, [change(2)], now=NOW + 999))[0][0] == "a"
    assert store.due(NOW + 999) == []
    out = run(store, [change(3)], now=NOW + 1000)
    assert [k[0] for k in kinds(out)] == ["b"] and out.expired == 1
    assert set(store.get(0, BORROWER).subs) == {"b"}


def test_the_timer_prunes_due_entries_without_input() -> None:
    store = FanoutStore()
    run(store, [req("a", "ra", expires=NOW + 1000)])
    due = store.due(NOW + 1000)
    assert due == [(0, BORROWER)]
    out = run(store, [], now=NOW + 1000, due=due)
    assert out.expired == 1 and out.states[BORROWER][1] is None  # nothing left: tombstone
    assert store.size() == 0


def test_state_bytes_round_trip_and_empty_is_a_tombstone() -> None:
    store = FanoutStore()
    run(store, [req("a", "ra"), change(9)])
    entry = store.get(0, BORROWER)
    assert entry.version == 9 and entry.view == bank_view(DATUM) and set(entry.subs) == {"a"}
    assert fanout_entry_from_bytes(fanout_entry_to_bytes(entry)) == entry
    assert (
        fanout_entry_to_bytes(FanoutEntry()) is None
        and fanout_entry_from_bytes(None) == FanoutEntry()
    )
    store.forget([0])
    assert store.size() == 0 and store.due(NOW + 10**9) == []


def test_the_expiry_index_does_not_grow_with_updates_and_follows_renewals() -> None:
    store = FanoutStore()
    run(store, [req("a", "ra", expires=NOW + 1000)])
    for v in range(1, 50):
        run(store, [change(v)])
    assert len(store._expiries) == 1  # the bound is the point: peek at the heap
    run(store, [req("a", "ra", expires=NOW + 5000)])  # renewed before it expired
    assert store.due(NOW + 1000) == []
    assert store.due(NOW + 5000) == [(0, BORROWER)]

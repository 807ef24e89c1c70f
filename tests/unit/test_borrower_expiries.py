"""The subscription-expiry index kept in the borrower stage's stores (``expiries``).

What it must keep true: every committed record's next expiry is indexed beside it (so a
restart finds due borrowers without a scan), stale keys are dropped when met, a due
borrower is handed out once until its record changes, and a deferred or aborted prune
comes back. Run on both stores (RocksDB and the dict) with the stage's pure batches.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.runtime.state import MemoryStore, PartitionStore, Store
from streams.stages.borrower.entry import borrower_entry_from_bytes
from streams.stages.borrower.expiries import PREFIX, Expiries, expiry_key, parse_key
from streams.stages.borrower.store import BorrowerStore
from tests.unit.profile_factories import BORROWER, load
from tests.unit.test_borrower_batch import NOW, loan, req, run

Opener = Callable[[int], Store]


@pytest.fixture(params=["disk", "memory"])
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Opener:
    if request.param == "memory":
        stores: dict[int, Store] = {}
        return lambda p: stores.setdefault(p, MemoryStore())
    return lambda p: PartitionStore.open(tmp_path / str(p))


def index_keys(store: BorrowerStore, partition: int = 0) -> list[tuple[int, bytes]]:
    keys = store.partition_store(partition).scan(PREFIX, 1000, PREFIX + b"\xff")
    return [parse_key(k) for k, _ in keys]


def test_a_restarted_store_finds_due_borrowers_from_its_index_alone(opener: Opener) -> None:
    store = BorrowerStore(10, opener)
    store.assign([0])
    run(store, [req("a", "ra", expires=NOW + 1000), req("b", "rb", expires=NOW + 5000)])
    run(store, ops=[loan(1)])
    assert index_keys(store) == [(NOW + 1000, BORROWER.encode())]
    store.close()
    again = BorrowerStore(10, opener)  # a restart: nothing in memory, no scan
    again.assign([0])
    assert again.due(NOW + 999) == []
    assert again.due(NOW + 1000) == [(0, BORROWER)]
    assert again.due(NOW + 2000) == []  # handed out once
    out = run(again, now=NOW + 2000, due=[(0, BORROWER)])  # the prune commits
    assert out.expired == 1
    assert again.due(NOW + 2000) == []  # the old key is stale now: dropped
    assert index_keys(again) == [(NOW + 5000, BORROWER.encode())]
    assert again.due(NOW + 5000) == [(0, BORROWER)]
    again.close()


def test_a_restart_hands_a_due_borrower_out_again_until_its_prune_commits(
    opener: Opener,
) -> None:
    store = BorrowerStore(10, opener)
    store.assign([0])
    run(store, [req("a", "ra", expires=NOW + 1000)])
    assert store.due(NOW + 1000) == [(0, BORROWER)]
    store.close()  # crashed before the prune committed
    again = BorrowerStore(10, opener)
    again.assign([0])
    assert again.due(NOW + 1000) == [(0, BORROWER)]
    again.close()


def test_a_commit_of_a_still_due_borrower_hands_it_out_again() -> None:
    """An aborted prune (or a batch that committed without pruning) must not leave an
    expired consent in place for the rest of the run."""
    store = BorrowerStore(10)
    run(store, [req("a", "ra", expires=NOW + 1000)])
    assert store.due(NOW + 1000) == [(0, BORROWER)]
    run(store, ops=[loan(1)], now=NOW + 500)  # committed with the old expiry kept
    assert store.due(NOW + 1000) == [(0, BORROWER)]


def test_deferred_items_come_back_at_their_time_and_not_for_lost_partitions() -> None:
    store = BorrowerStore(10)
    store.assign([0, 1])
    run(store, [req("a", "ra", expires=NOW + 1000)])
    due = store.due(NOW + 1000)
    store.defer([*due, (1, "other")], NOW + 3000)
    assert store.due(NOW + 2999) == []
    store.forget([1])
    assert store.due(NOW + 3000) == [(0, BORROWER)]


def test_recovery_indexes_replayed_records_and_tolerates_the_keys_they_outdate() -> None:
    source = BorrowerStore(10)
    first = run(source, [req("a", "ra", expires=NOW + 1000)]).states[BORROWER][1]
    later = run(source, [req("a", "ra", expires=NOW + 9000)]).states[BORROWER][1]
    assert first is not None and later is not None
    replica = BorrowerStore(10)
    load(replica, 0, BORROWER, first)
    load(replica, 0, BORROWER, later)  # the tail replay moves the expiry on
    assert [at for at, _ in index_keys(replica)] == [NOW + 1000, NOW + 9000]
    assert replica.due(NOW + 1000) == []  # the first key is stale: dropped, not due
    assert [at for at, _ in index_keys(replica)] == [NOW + 9000]
    load(replica, 0, BORROWER, None)  # a tombstone: the last key goes stale too
    assert replica.due(NOW + 9000) == []
    assert index_keys(replica) == []


def test_index_keys_sort_by_expiry_and_before_every_borrower_id() -> None:
    keys = [expiry_key(t, b) for t, b in [(5, b"zz"), (300, b"a"), (300, b"b"), (2**40, b"")]]
    assert keys == sorted(keys) and max(keys) < b"\x01"
    assert parse_key(keys[1]) == (300, b"a")


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("abc"), st.integers(0, 20)), max_size=25))
def test_due_matches_the_committed_records_whatever_the_history(
    history: list[tuple[str, int]],
) -> None:
    """After any sequence of subscriptions (bank, expiry step), the borrower is due at a
    time exactly when its committed record holds an expiry at or before it."""
    store = BorrowerStore(10)
    for bank, step in history:
        run(store, [req(bank, f"r{bank}", expires=NOW + 1 + step * 100)])
    record = store.committed(0, BORROWER)
    subs = {} if record is None else borrower_entry_from_bytes(record).subs
    soonest = min((s.expires_at_ms for s in subs.values()), default=None)
    for t in (NOW, NOW + 1000, NOW + 2001):
        want = [(0, BORROWER)] if soonest is not None and soonest <= t else []
        assert Expiries().due({0: store.partition_store(0)}, t) == want

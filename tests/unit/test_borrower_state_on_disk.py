"""The borrower stage's entries on disk: what survives a restart, and what recovery wipes.

The stores are real RocksDB (``runtime.state.PartitionStore``) in a temporary dir; the
batches are the stage's pure ones (``test_borrower_batch``'s helpers).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from streams.domain.profile.windows import DEFAULT_CONFIG
from streams.runtime.state import MemoryStore, PartitionStore, Store
from streams.stages.borrower.batch import process_batch
from streams.stages.borrower.entry import borrower_entry_from_bytes
from streams.stages.borrower.recovery import replay_start
from streams.stages.borrower.store import BorrowerStore
from streams.topology import TOMBSTONE_RETENTION_MS
from tests.unit.profile_factories import BORROWER, commit
from tests.unit.test_borrower_batch import ENCODER, NOW, loan, req, run


def on_disk(root: Path) -> BorrowerStore:
    return BorrowerStore(10, lambda p: PartitionStore.open(root / str(p)))


def test_committed_entries_and_expiries_come_back_from_disk(tmp_path: Path) -> None:
    store = on_disk(tmp_path)
    store.assign([0])
    out = run(store, [req("a", "ra", expires=NOW + 1000)], [loan(1), loan(2)])
    record = out.states[BORROWER][1]
    store.close()
    again = on_disk(tmp_path)
    again.assign([0])
    assert again.partition_store(0).offset is not None  # recovery replays after it
    assert again.committed(0, BORROWER) == record
    assert again.due(NOW + 1000) == [(0, BORROWER)]
    assert borrower_entry_from_bytes(record or b"").state.version == 2
    assert again.get(0, BORROWER).state.version == 2
    again.close()


def test_an_uncommitted_batch_never_reaches_the_disk(tmp_path: Path) -> None:
    store = on_disk(tmp_path)
    store.assign([0])
    run(store, ops=[loan(1)])  # committed
    process_batch([], [loan(2)], [], store.get, NOW, DEFAULT_CONFIG, ENCODER)
    assert store.get(0, BORROWER).state.version == 2  # in memory only ...
    store.abort()  # ... its transaction aborted
    store.close()
    again = on_disk(tmp_path)
    assert again.get(0, BORROWER).state.version == 1
    again.close()


def stored(offset: int | None, written_ago_ms: int = 0) -> Store:
    st = MemoryStore()
    if offset is not None:
        st.apply({b"k": b"v"}, offset)
        st.written_at_ms = int(time.time() * 1000) - written_ago_ms
    return st


@pytest.mark.parametrize(
    ("offset", "low", "high", "ago", "start", "wiped"),
    [
        (None, 0, 10, 0, None, False),  # a new store: replay everything
        (6, 0, 10, 0, 7, False),  # the tail after the stored offset
        (9, 0, 10, 0, 10, False),  # caught up (a commit marker may follow)
        (3, 4, 10, 0, 4, False),  # the changelog starts right after it
        (2, 5, 10, 0, None, True),  # compacted or deleted past it
        (10, 0, 10, 0, None, True),  # past the end: another cluster's topic
        (6, 0, 10, TOMBSTONE_RETENTION_MS, None, True),  # tombstones may have gone
    ],
)
def test_recovery_replays_the_tail_or_wipes_a_store_it_cannot_trust(
    offset: int | None, low: int, high: int, ago: int, start: int | None, wiped: bool
) -> None:
    st = stored(offset, ago)
    assert replay_start(st, low, high, 0) == start
    assert (st.offset is None and offset is not None) is wiped
    assert (list(st.items()) == []) is (wiped or offset is None)


def test_restore_chunks_and_commits_write_with_offsets_that_only_grow(tmp_path: Path) -> None:
    store = on_disk(tmp_path)
    store.assign([1])
    store.restore_chunk(1, {b"b1": b"x", b"b2": None}, 41)
    assert store.partition_store(1).offset == 41
    with pytest.raises(ValueError, match="behind"):
        store.commit({"b1": (1, b"y", None)}, {1: 40})
    commit(store, {})  # an empty batch writes nothing
    store.close()

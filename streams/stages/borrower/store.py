"""The borrower stage's local state: committed records per partition, a hot cache, expiries.

Committed records (exactly what the changelog holds) are the truth, kept per partition
in a :class:`~streams.runtime.state.Store`: RocksDB on disk (``PartitionStore``) with
the changelog offset they reach, or a dict (``MemoryStore``). Decoded entries are a
bounded cache in front of them (a decode is a few ``marshal.loads``, ~5 us, but a
decoded entry takes several times its bytes and keeps the garbage collector busy).
Restore only writes records (:meth:`restore_chunk`); a borrower is decoded when a
batch first touches it. A batch mutates cached entries in place, so :meth:`abort`
evicts what a batch touched: the next touch decodes the committed record again. The
stage stages batch N+1 while batch N commits, so touched borrowers are handed out per
batch (:meth:`take_touched`) rather than cleared on commit, and trimming the cache on a
commit spares the batch handed out last. The subscription expiries are indexed in the same
stores, written with the records (``stages.borrower.expiries``), so the stage prunes
expired consents on a timer (:meth:`due`) without scanning every borrower on
assignment. Pure (no Kafka import).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping

from streams.runtime.state import MemoryStore, Store
from streams.stages.borrower.entry import (
    BorrowerEntry,
    borrower_entry_from_bytes,
    new_borrower_entry,
)
from streams.stages.borrower.expiries import Expiries, expiry_key, index_writes

#: borrower_id -> (partition, state record or None, earliest expiry or None)
States = Mapping[str, tuple[int, bytes | None, int | None]]
#: Opens (or creates) the store of one partition.
OpenStore = Callable[[int], Store]


def _memory(_partition: int) -> Store:
    return MemoryStore()


class BorrowerStore:
    """Borrower entries of the partitions this worker owns."""

    def __init__(self, hot_max: int, open_store: OpenStore = _memory) -> None:
        self.hot_max = hot_max
        self._open = open_store
        self._stores: dict[int, Store] = {}
        self._hot: dict[str, BorrowerEntry] = {}  # insertion order = least recently used
        self._touched: list[str] = []
        self._taken: list[str] = []  # the last batch handed out: maybe not committed yet
        self._expiries = Expiries()

    # -- recovery and rebalance -----------------------------------------------------
    def assign(self, partitions: Iterable[int]) -> None:
        """Open the stores of newly owned ``partitions``."""
        for p in partitions:
            if p not in self._stores:
                self._stores[p] = self._open(p)

    def partition_store(self, partition: int) -> Store:
        """The store of an owned partition (recovery reads its offset)."""
        return self._store(partition)

    def _store(self, partition: int) -> Store:
        store = self._stores.get(partition)
        if store is None:  # written before assign(): only pure tests do that
            store = self._stores[partition] = self._open(partition)
        return store

    def restore_chunk(
        self, partition: int, records: dict[bytes, bytes | None], offset: int
    ) -> None:
        """Write replayed changelog records (key: borrower_id; None: a tombstone)
        reaching ``offset``, with their expiries' index keys. ``records`` is consumed."""
        if self._hot:  # only entries of other partitions, unless a store was re-opened
            for bid in records:
                self._hot.pop(bid.decode(), None)
        records.update(index_writes(records))
        self._store(partition).apply(records, offset)

    def forget(self, partitions: Iterable[int]) -> None:
        """Close the stores of partitions this worker no longer owns (they stay on disk)
        and drop their decoded entries and expiries."""
        gone = {p for p in partitions if p in self._stores}
        for p in gone:
            self._stores.pop(p).close()
        if gone:
            # Between batches (the loop settles first): no entry holds uncommitted work.
            self._hot.clear()
            self._expiries.forget(gone)

    def flush(self) -> None:
        """Write the stores' memory to their files (see ``PartitionStore.flush``)."""
        for store in self._stores.values():
            store.flush()

    def close(self) -> None:
        """Close every store (a stage run ends)."""
        self.forget(list(self._stores))

    # -- the batch ------------------------------------------------------------------
    def get(self, partition: int, borrower_id: str) -> BorrowerEntry:
        """The entry to work on (decoded or new); remembered as touched."""
        self._touched.append(borrower_id)
        hot = self._hot
        entry = hot.pop(borrower_id, None)
        if entry is None:
            store = self._stores.get(partition) or self._store(partition)
            data = store.get(borrower_id.encode())
            entry = (
                new_borrower_entry(borrower_id) if data is None else borrower_entry_from_bytes(data)
            )
        hot[borrower_id] = entry  # most recently used last
        return entry

    def take_touched(self) -> list[str]:
        """Borrowers fetched with :meth:`get` since the last call (one batch's worth)."""
        touched, self._touched = self._touched, []
        self._taken = touched
        return touched

    def commit(self, states: States, offsets: Mapping[int, int]) -> None:
        """A batch's transaction committed: its state records become the truth, written
        per partition with the changelog offset the partition's last one got
        (``offsets``: every partition with a record must have one).

        Then the hot cache is trimmed to ``hot_max``, least recently used first, but
        never of an entry of the batch handed out last (:meth:`take_touched`): the
        stage commits a batch after staging the next one, whose mutations live only in
        those entries until it commits in turn."""
        writes: dict[int, dict[bytes, bytes | None]] = {}
        for bid, (partition, record, expires) in states.items():
            key = bid.encode()
            w = writes.get(partition)
            if w is None:
                w = writes[partition] = {}
            w[key] = record
            if expires is not None:
                w[expiry_key(expires, key)] = b""
        self._expiries.changed(states)
        for partition, records in writes.items():
            self._store(partition).apply(records, offsets[partition])
        hot = self._hot
        excess = len(hot) - self.hot_max
        if excess > 0:
            keep = set(self._taken)
            victims = []  # one scan: popping the front one by one is quadratic
            for bid in hot:
                if bid not in keep:
                    victims.append(bid)
                    if len(victims) == excess:
                        break
            for bid in victims:
                del hot[bid]

    def abort(self, touched: Iterable[str] | None = None) -> None:
        """A batch's transaction aborted: forget the entries it mutated (``touched``, by
        default everything fetched since the last :meth:`take_touched`)."""
        for bid in self.take_touched() if touched is None else touched:
            self._hot.pop(bid, None)

    # -- the prune timer --------------------------------------------------------------
    def due(self, now_ms: int) -> list[tuple[int, str]]:
        """Owned borrowers with a subscription expired by ``now_ms`` (each once, until
        its record changes or :meth:`defer` asks again)."""
        return self._expiries.due(self._stores, now_ms)

    def defer(self, items: Iterable[tuple[int, str]], at_ms: int) -> None:
        """Look at ``items`` again at ``at_ms`` (a prune that could not run now)."""
        self._expiries.defer(items, at_ms)

    # -- introspection --------------------------------------------------------------
    def size(self) -> int:
        """Borrowers held (committed; RocksDB's estimate on disk)."""
        return sum(s.estimated_keys() for s in self._stores.values())

    def size_bytes(self) -> int:
        """Bytes of the assigned partitions' stores (files on disk, or record bytes)."""
        return sum(s.size_bytes() for s in self._stores.values())

    def owned(self) -> list[int]:
        """The partitions whose stores are open (assigned)."""
        return sorted(self._stores)

    def hot(self) -> int:
        return len(self._hot)

    def committed(self, partition: int, borrower_id: str) -> bytes | None:
        store = self._stores.get(partition)
        return None if store is None else store.get(borrower_id.encode())

    def records(self) -> Iterator[tuple[int, str, bytes]]:
        """Every committed ``(partition, borrower_id, state record)``."""
        for p, store in self._stores.items():
            for key, data in store.items():
                if key[:1] != b"\x00":  # the expiry index (keys sort first)
                    yield p, key.decode(), data

    def hot_entries(self) -> list[BorrowerEntry]:
        """The decoded entries, least recently used first."""
        return list(self._hot.values())

"""The borrower stage's local state: committed records per partition, a hot cache, expiries.

Committed bytes (exactly what the changelog holds) are the truth; decoded entries are a
bounded cache in front of them (a decode is a few ``marshal.loads``, ~5 us, but a
decoded entry takes several times its bytes and keeps the garbage collector busy).
Restore only stores bytes (and indexes the expiry of a record that holds
subscriptions), so it runs at the changelog's read speed; a borrower is decoded when a
batch first touches it. A batch mutates cached entries in place, so :meth:`abort`
evicts what a batch touched: the next touch decodes the committed bytes again. The
stage stages batch N+1 while batch N commits, so touched borrowers are handed out per
batch (:meth:`take_touched`) rather than cleared on commit, and trimming the cache on a
commit spares the batch handed out last. A heap of subscription expiries lets the stage
prune expired consents on a timer (:meth:`due`). Pure (no Kafka import).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator, Mapping

from streams.domain.consent import next_expiry
from streams.stages.borrower.entry import (
    BorrowerEntry,
    borrower_entry_from_bytes,
    new_borrower_entry,
    subscriptions_of,
)

#: borrower_id -> (partition, state record or None, earliest expiry or None)
States = Mapping[str, tuple[int, bytes | None, int | None]]


class BorrowerStore:
    """Borrower entries of the partitions this worker owns."""

    def __init__(self, hot_max: int) -> None:
        self.hot_max = hot_max
        self._bytes: dict[int, dict[str, bytes]] = {}
        self._hot: dict[str, BorrowerEntry] = {}  # insertion order = least recently used
        self._touched: list[str] = []
        self._taken: list[str] = []  # the last batch handed out: maybe not committed yet
        self._expiries: list[tuple[int, int, str]] = []  # (expires_at_ms, partition, bid)
        # The expiry each borrower is indexed under: a heap entry is pushed only when it
        # changes, so frequent updates of a subscribed borrower do not grow the heap.
        self._indexed: dict[str, int] = {}

    # -- recovery and rebalance -----------------------------------------------------
    def load(self, partition: int, borrower_id: str, value: bytes | None) -> None:
        """Replay one changelog record (a tombstone erases the borrower)."""
        soonest = None if value is None else next_expiry(subscriptions_of(value))
        self._put(partition, borrower_id, value, soonest)
        self._hot.pop(borrower_id, None)

    def assign(self, partitions: Iterable[int]) -> None:
        for p in partitions:
            self._bytes.setdefault(p, {})

    def forget(self, partitions: Iterable[int]) -> None:
        """Drop partitions this worker no longer owns (their expiries go stale)."""
        for p in partitions:
            for bid in self._bytes.pop(p, {}):
                self._hot.pop(bid, None)
                self._indexed.pop(bid, None)

    # -- the batch ------------------------------------------------------------------
    def get(self, partition: int, borrower_id: str) -> BorrowerEntry:
        """The entry to work on (decoded or new); remembered as touched."""
        self._touched.append(borrower_id)
        hot = self._hot
        entry = hot.pop(borrower_id, None)
        if entry is None:
            part = self._bytes.get(partition)
            data = None if part is None else part.get(borrower_id)
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

    def commit(self, states: States) -> None:
        """A batch's transaction committed: its state records become the truth.

        Then the hot cache is trimmed to ``hot_max``, least recently used first, but
        never of an entry of the batch handed out last (:meth:`take_touched`): the
        stage commits a batch after staging the next one, whose mutations live only in
        those entries until it commits in turn."""
        for bid, (partition, record, expires) in states.items():
            self._put(partition, bid, record, expires)
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

    def _put(
        self, partition: int, borrower_id: str, value: bytes | None, expires_ms: int | None
    ) -> None:
        part = self._bytes.setdefault(partition, {})
        if value is None:
            part.pop(borrower_id, None)
        else:
            part[borrower_id] = value
        if expires_ms is None:
            self._indexed.pop(borrower_id, None)
        elif self._indexed.get(borrower_id) != expires_ms:
            self._indexed[borrower_id] = expires_ms
            heapq.heappush(self._expiries, (expires_ms, partition, borrower_id))

    # -- the prune timer --------------------------------------------------------------
    def due(self, now_ms: int) -> list[tuple[int, str]]:
        """Owned borrowers with a subscription expired by ``now_ms`` (each once)."""
        out: set[tuple[int, str]] = set()
        heap = self._expiries
        while heap and heap[0][0] <= now_ms:
            at, partition, bid = heapq.heappop(heap)
            if self._indexed.get(bid) != at:
                continue  # superseded by a later expiry (or dropped)
            del self._indexed[bid]
            if bid in self._bytes.get(partition, {}):
                out.add((partition, bid))
        return sorted(out)

    def defer(self, items: Iterable[tuple[int, str]], at_ms: int) -> None:
        """Look at ``items`` again at ``at_ms`` (a prune that could not run now)."""
        for partition, bid in items:
            self._indexed[bid] = at_ms
            heapq.heappush(self._expiries, (at_ms, partition, bid))

    # -- introspection --------------------------------------------------------------
    def size(self) -> int:
        """Borrowers held (committed)."""
        return sum(len(p) for p in self._bytes.values())

    def hot(self) -> int:
        return len(self._hot)

    def committed(self, partition: int, borrower_id: str) -> bytes | None:
        return self._bytes.get(partition, {}).get(borrower_id)

    def records(self) -> Iterator[tuple[int, str, bytes]]:
        """Every committed ``(partition, borrower_id, state record)``."""
        for p, part in self._bytes.items():
            for bid, data in part.items():
                yield p, bid, data

    def hot_entries(self) -> list[BorrowerEntry]:
        """The decoded entries, least recently used first."""
        return list(self._hot.values())

"""The profile stage's local state: committed entry bytes per partition, a hot cache.

Committed bytes (exactly what the changelog holds) are the truth; decoded entries are a
bounded cache in front of them (a decode is one ``marshal.loads``, ~5 us, but a decoded
entry takes several times its bytes and keeps the garbage collector busy). Restore only
stores bytes, so it runs at the changelog's read speed; a borrower is decoded when an
event first touches it (lazy). A batch mutates cached entries in place, so
:meth:`abort` evicts what a batch touched: the next touch decodes the committed bytes
again. The stage folds batch N+1 while batch N commits, so touched borrowers are handed
out per batch (:meth:`take_touched`) rather than cleared on commit, and trimming the
cache on a commit spares the batch handed out last. Pure (no Kafka import); the stage
drives it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from streams.stages.profiles.batch import Emit
from streams.stages.profiles.records import (
    ProfileEntry,
    new_profile_entry,
    profile_entry_from_bytes,
)


class ProfileStore:
    """Borrower entries of the partitions this worker owns."""

    def __init__(self, hot_max: int) -> None:
        self.hot_max = hot_max
        self._bytes: dict[int, dict[str, bytes]] = {}
        self._hot: dict[str, ProfileEntry] = {}  # insertion order = least recently used first
        self._touched: list[str] = []
        self._taken: list[str] = []  # the last batch handed out: maybe not committed yet

    # -- recovery and rebalance -----------------------------------------------------
    def load(self, partition: int, borrower_id: str, value: bytes | None) -> None:
        """Replay one changelog record (a tombstone erases the borrower)."""
        part = self._bytes.setdefault(partition, {})
        if value is None:
            part.pop(borrower_id, None)
        else:
            part[borrower_id] = value
        self._hot.pop(borrower_id, None)

    def assign(self, partitions: Iterable[int]) -> None:
        for p in partitions:
            self._bytes.setdefault(p, {})

    def forget(self, partitions: Iterable[int]) -> None:
        """Drop partitions this worker no longer owns."""
        for p in partitions:
            for bid in self._bytes.pop(p, {}):
                self._hot.pop(bid, None)

    # -- the batch ------------------------------------------------------------------
    def get(self, partition: int, borrower_id: str) -> ProfileEntry:
        """The entry to fold into (decoded or new); remembered as touched."""
        self._touched.append(borrower_id)
        hot = self._hot
        entry = hot.pop(borrower_id, None)
        if entry is None:
            part = self._bytes.get(partition)
            data = None if part is None else part.get(borrower_id)
            entry = (
                new_profile_entry(borrower_id) if data is None else profile_entry_from_bytes(data)
            )
        hot[borrower_id] = entry  # most recently used last
        return entry

    def take_touched(self) -> list[str]:
        """Borrowers fetched with :meth:`get` since the last call (one batch's worth)."""
        touched, self._touched = self._touched, []
        self._taken = touched
        return touched

    def commit(self, emits: Iterable[Emit]) -> None:
        """A batch's transaction committed: its state records become the truth.

        Then the hot cache is trimmed to ``hot_max``, least recently used first, but
        never of an entry of the batch handed out last (:meth:`take_touched`): the
        stage commits a batch after folding the next one, whose mutations live only in
        those entries until it commits in turn."""
        for e in emits:
            self._bytes.setdefault(e.partition, {})[e.borrower_id] = e.state
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

    def hot_entries(self) -> list[ProfileEntry]:
        """The decoded entries, least recently used first."""
        return list(self._hot.values())

"""The subscription-expiry index of the borrower stage, kept in the partition stores.

A borrower whose state record holds subscriptions is due for a prune at its earliest
``expires_at_ms`` (read from a record by ``entry.next_expiry_of``). Finding those
borrowers must not cost a scan of every state record on assignment (10 M borrowers:
tens of seconds), nor a dict of every subscribed borrower in memory, so the index
lives in the partition's own store, beside the records, under keys that sort before
every borrower id::

    b"\\x00x" + expires_at_ms (8 bytes, big-endian) + borrower_id

Contract (what :class:`Expiries` keeps true):

* **Complete.** Every committed state record with a next expiry ``E`` has its key
  ``(E, borrower)`` in the same store, written in the same atomic write batch as the
  record (:func:`index_writes`, by the stage's commit and by recovery's replay): a
  crash leaves both or neither.
* **Stale keys are allowed.** A key is never deleted when its borrower's expiry moves
  (that would need the old record): :meth:`Expiries.due` checks each key it reaches
  against the committed record and deletes the keys that no longer match. Deleting a
  stale key is always safe because the matching key exists (completeness).
* **Each due borrower is handed out once** per worker run, until its record changes
  (the prune commits: the key turns stale) or :meth:`Expiries.defer` asks again later.
  A restart hands the still-due ones out again: nothing is lost, a prune is idempotent.

Pure (no Kafka import).
"""

from __future__ import annotations

import heapq
import struct
from collections.abc import Iterable, Mapping
from typing import Final

from streams.runtime.state import Store
from streams.stages.borrower.entry import next_expiry_of

PREFIX: Final = b"\x00x"
_AT = struct.Struct(">Q")
_HEAD = len(PREFIX) + _AT.size
SCAN: Final = 5_000  # index keys read per store and call of ``due``


def expiry_key(expires_ms: int, borrower_id: bytes) -> bytes:
    return PREFIX + _AT.pack(max(0, expires_ms)) + borrower_id


def parse_key(key: bytes) -> tuple[int, bytes]:
    """``(expires_ms, borrower_id)`` of an index key."""
    return _AT.unpack_from(key, len(PREFIX))[0], key[_HEAD:]


def record_expiry(record: bytes | None) -> int | None:
    """The next expiry a committed state record holds (None: no subscription)."""
    return None if record is None else next_expiry_of(record)


def index_writes(records: Mapping[bytes, bytes | None]) -> dict[bytes, bytes | None]:
    """The index keys replayed changelog ``records`` need (see *Complete*)."""
    out: dict[bytes, bytes | None] = {}
    for bid, record in records.items():
        at = record_expiry(record)
        if at is not None:
            out[expiry_key(at, bid)] = b""
    return out


class Expiries:
    """Which owned borrowers are due for a prune (the index itself is in the stores)."""

    def __init__(self) -> None:
        self._handed: dict[bytes, tuple[int, int]] = {}  # bid -> (expiry, partition)
        self._later: list[tuple[int, int, bytes]] = []  # deferred: (at_ms, partition, bid)

    def due(self, stores: Mapping[int, Store], now_ms: int) -> list[tuple[int, str]]:
        """Owned borrowers whose committed record holds a subscription expired by
        ``now_ms``, each once (see the module doc); deletes the stale keys it meets."""
        out: set[tuple[int, str]] = set()
        for partition, store in stores.items():
            for bid in self._due_in(partition, store, now_ms):
                out.add((partition, bid.decode()))
        later = self._later
        while later and later[0][0] <= now_ms:
            _at, partition, bid = heapq.heappop(later)
            if partition in stores:
                out.add((partition, bid.decode()))
        return sorted(out)

    def _due_in(self, partition: int, store: Store, now_ms: int) -> list[bytes]:
        found: list[bytes] = []
        stale: dict[bytes, bytes | None] = {}
        start, end = PREFIX, expiry_key(now_ms + 1, b"")
        while True:
            keys = store.scan(start, SCAN, end)
            for key, _ in keys:
                at, bid = parse_key(key)
                if record_expiry(store.get(bid)) != at:
                    stale[key] = None
                    if self._handed.get(bid, (at,))[0] == at:
                        self._handed.pop(bid, None)
                elif self._handed.get(bid) != (at, partition):
                    self._handed[bid] = (at, partition)
                    found.append(bid)
            if len(keys) < SCAN:
                break
            start = keys[-1][0] + b"\x00"
        if stale and store.offset is not None:
            store.apply(stale, store.offset)  # not state: the offset stays
        return found

    def changed(self, borrower_ids: Iterable[str]) -> None:
        """These borrowers' records were just committed: hand them out again if their
        new record is still due (an aborted prune is retried, a done one is not)."""
        handed = self._handed
        if handed:
            for bid in borrower_ids:
                handed.pop(bid.encode(), None)

    def defer(self, items: Iterable[tuple[int, str]], at_ms: int) -> None:
        """Hand ``items`` out again at ``at_ms`` (a prune that could not run now)."""
        for partition, bid in items:
            heapq.heappush(self._later, (at_ms, partition, bid.encode()))

    def forget(self, partitions: set[int]) -> None:
        """Drop what was handed out of ``partitions`` (no longer owned)."""
        self._handed = {b: h for b, h in self._handed.items() if h[1] not in partitions}
        self._later = [x for x in self._later if x[1] not in partitions]
        heapq.heapify(self._later)

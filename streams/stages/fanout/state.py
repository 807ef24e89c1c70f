"""The fan-out's per-borrower state and its store (pure: no Kafka import).

An :class:`FanoutEntry` is one borrower as the fan-out needs it: the banks' subscriptions
(``streams.domain.consent.Subscriptions``) and the latest bank-facing profile view with its
version, kept so a new subscription is answered at once with a snapshot.

State record (value on ``exchange.fanout-state``, key borrower_id, partition = the
input partition): a format byte, the 4-byte big-endian length of
``consent.to_bytes(subs)``, those bytes, then ``marshal`` of ``(view, version)``. The
subscriptions come first so recovery reads expiries without decoding the view. A
borrower with neither subscriptions nor a profile is a tombstone (None). Written only
by the exchange: trusted input.

:class:`FanoutStore` keeps the *committed* records as bytes per partition (the truth,
exactly what the changelog holds) and decodes an entry each time a batch loads it, so
a batch works on its own copies and an aborted batch leaves nothing to undo. It also
keeps a heap of subscription expiries so the stage can prune expired consents on a
timer (hygiene only: delivery checks expiry itself at delivery time).
"""

from __future__ import annotations

import heapq
import marshal
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field

from streams.domain import consent
from streams.domain.consent import Subscription

FORMAT = 1
_FORMAT_BYTE = bytes((FORMAT,))
_LEN = struct.Struct(">I")


@dataclass(slots=True)
class FanoutEntry:
    """One borrower: subscriptions by bank, latest view (None: no profile yet), version."""

    subs: dict[str, Subscription] = field(default_factory=dict)
    view: str | None = None
    version: int = 0

    def empty(self) -> bool:
        return not self.subs and self.view is None


def fanout_entry_to_bytes(entry: FanoutEntry) -> bytes | None:
    """The state record of ``entry``; None (a tombstone) when it holds nothing."""
    if entry.empty():
        return None
    subs = consent.to_bytes(entry.subs)
    rest = marshal.dumps((entry.view, entry.version), 4)
    return b"".join((_FORMAT_BYTE, _LEN.pack(len(subs)), subs, rest))


def fanout_entry_from_bytes(data: bytes | None) -> FanoutEntry:
    """Inverse of :func:`fanout_entry_to_bytes` (None: a new entry); ``ValueError`` if unknown."""
    if data is None:
        return FanoutEntry()
    n = _check(data)
    view, version = marshal.loads(data[5 + n :])
    return FanoutEntry(subs_from_bytes(data), view, version)


def subs_from_bytes(data: bytes) -> dict[str, Subscription]:
    """Only the subscriptions of a state record (cheap: the view is not decoded)."""
    n = _check(data)
    return consent.from_bytes(data[5 : 5 + n])


def _check(data: bytes) -> int:
    if data[:1] != _FORMAT_BYTE or len(data) < 5:
        raise ValueError(f"unknown fan-out entry format {data[:1]!r}")
    (n,) = _LEN.unpack_from(data, 1)
    return int(n)


class FanoutStore:
    """Committed entries of the partitions this worker owns, plus an expiry index."""

    def __init__(self) -> None:
        self._bytes: dict[int, dict[str, bytes]] = {}
        self._expiries: list[tuple[int, int, str]] = []  # (expires_at_ms, partition, bid)
        # The expiry each borrower is indexed under: a heap entry is pushed only when it
        # changes, so frequent updates of a subscribed borrower do not grow the heap.
        self._indexed: dict[str, int] = {}

    def assign(self, partitions: Iterable[int]) -> None:
        for p in partitions:
            self._bytes.setdefault(p, {})

    def forget(self, partitions: Iterable[int]) -> None:
        """Drop partitions this worker no longer owns (their expiries go stale)."""
        for p in partitions:
            for bid in self._bytes.pop(p, {}):
                self._indexed.pop(bid, None)

    def owned(self) -> list[int]:
        return sorted(self._bytes)

    def load(self, partition: int, borrower_id: str, value: bytes | None) -> None:
        """Replay one changelog record (a tombstone drops the borrower)."""
        soonest = None if value is None else consent.next_expiry(subs_from_bytes(value))
        self.put(partition, borrower_id, value, soonest)

    def get(self, partition: int, borrower_id: str) -> FanoutEntry:
        """A fresh decoded copy of the committed entry (or a new one)."""
        return fanout_entry_from_bytes(self._bytes.get(partition, {}).get(borrower_id))

    def put(
        self, partition: int, borrower_id: str, value: bytes | None, expires_ms: int | None
    ) -> None:
        """Make ``value`` the committed record of the borrower (after a commit);
        ``expires_ms``: its earliest subscription expiry, if any."""
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

    def size(self) -> int:
        """Borrowers held (committed)."""
        return sum(len(p) for p in self._bytes.values())

"""A partition store in memory: the on-disk store's contract without the disk.

For unit tests of the stages' pure parts and for a worker told to keep no state on
disk (``state_store = "memory"``: every assignment replays the whole changelog, as
before issue 15). Same methods and semantics as
:class:`~streams.runtime.state.store.PartitionStore`. Keys starting with a zero byte
(the stages' indexes and checkpoints, which sort first) are kept apart, so a
:meth:`~MemoryStore.scan` of them sorts only them, not every record.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping


class MemoryStore:
    """One partition's state records in a dict, with the changelog offset they reach."""

    def __init__(self) -> None:
        self._data: dict[bytes, bytes] = {}
        self._low: dict[bytes, bytes] = {}  # keys below b"\x01"
        self.offset: int | None = None
        self.written_at_ms = 0

    def _part(self, key: bytes) -> dict[bytes, bytes]:
        return self._low if key[:1] == b"\x00" else self._data

    def get(self, key: bytes) -> bytes | None:
        return self._part(key).get(key)

    def items(self) -> Iterator[tuple[bytes, bytes]]:
        yield from sorted(self._low.items())
        yield from sorted(self._data.items())

    def scan(self, start: bytes, limit: int, end: bytes | None = None) -> list[tuple[bytes, bytes]]:
        found: list[tuple[bytes, bytes]] = []
        for part in (self._low, self._data):
            if len(found) >= limit or (end is not None and part is self._data and end <= b"\x01"):
                break
            found += sorted(
                (k, v) for k, v in part.items() if k >= start and (end is None or k < end)
            )[: limit - len(found)]
        return found

    def apply(self, writes: Mapping[bytes, bytes | None], offset: int) -> None:
        if self.offset is not None and offset < self.offset:
            raise ValueError(f"changelog offset {offset} is behind the store's {self.offset}")
        data, low = self._data, self._low
        for key, value in writes.items():
            part = low if key[:1] == b"\x00" else data
            if value is None:
                part.pop(key, None)
            else:
                part[key] = value
        self.offset, self.written_at_ms = offset, int(time.time() * 1000)

    def flush(self) -> None:
        """Nothing to write: the records go with the process."""

    def wipe(self, reason: str) -> None:
        self._data.clear()
        self._low.clear()
        self.offset, self.written_at_ms = None, 0

    def estimated_keys(self) -> int:
        return len(self._data) + len(self._low)

    def size_bytes(self) -> int:
        return sum(len(k) + len(v) for part in (self._low, self._data) for k, v in part.items())

    def close(self) -> None:
        """Nothing to close: the records go with the process."""

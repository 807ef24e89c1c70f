"""A partition store in memory: the on-disk store's contract without the disk.

For unit tests of the stages' pure parts and for a worker told to keep no state on
disk (``state_store = "memory"``: every assignment replays the whole changelog, as
before issue 15). Same methods and semantics as
:class:`~streams.runtime.state.store.PartitionStore`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping


class MemoryStore:
    """One partition's state records in a dict, with the changelog offset they reach."""

    def __init__(self) -> None:
        self._data: dict[bytes, bytes] = {}
        self.offset: int | None = None
        self.written_at_ms = 0

    def get(self, key: bytes) -> bytes | None:
        return self._data.get(key)

    def items(self) -> Iterator[tuple[bytes, bytes]]:
        yield from sorted(self._data.items())

    def scan(self, start: bytes, limit: int) -> list[tuple[bytes, bytes]]:
        return sorted((k, v) for k, v in self._data.items() if k >= start)[:limit]

    def apply(self, writes: Mapping[bytes, bytes | None], offset: int) -> None:
        if self.offset is not None and offset < self.offset:
            raise ValueError(f"changelog offset {offset} is behind the store's {self.offset}")
        for key, value in writes.items():
            if value is None:
                self._data.pop(key, None)
            else:
                self._data[key] = value
        self.offset, self.written_at_ms = offset, int(time.time() * 1000)

    def flush(self) -> None:
        """Nothing to write: the records go with the process."""

    def wipe(self, reason: str) -> None:
        self._data.clear()
        self.offset, self.written_at_ms = None, 0

    def estimated_keys(self) -> int:
        return len(self._data)

    def size_bytes(self) -> int:
        return sum(len(k) + len(v) for k, v in self._data.items())

    def close(self) -> None:
        """Nothing to close: the records go with the process."""

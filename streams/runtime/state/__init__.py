"""State on disk: one RocksDB store per stage partition, with its changelog offset.

The public API: :class:`~streams.runtime.state.store.PartitionStore` (RocksDB),
:class:`~streams.runtime.state.memory.MemoryStore` (the same contract in a dict) and
:class:`Store`, what both are. The stages'
changelog topics stay the truth; a store is a local copy that lets recovery replay only
the changelog records after the offset it reaches: the borrower stage's entries
(``<state_dir>/borrower/<p>``) and ingress's event_ids (``<state_dir>/ingress/<p>``).
"""

import time
from collections.abc import Iterator, Mapping
from typing import Protocol

from streams.runtime.state.cleanup import StateCleaner
from streams.runtime.state.memory import MemoryStore
from streams.runtime.state.store import FORMAT, PartitionStore
from streams.settings import Settings


class Store(Protocol):
    """One partition's state records and the changelog offset they reach."""

    offset: int | None
    written_at_ms: int

    def get(self, key: bytes) -> bytes | None: ...
    def items(self) -> Iterator[tuple[bytes, bytes]]: ...
    def scan(self, start: bytes, limit: int, end: bytes | None = None) -> list[tuple[bytes, bytes]]:
        """Up to ``limit`` records with ``start <= key < end``, in key order."""

    def apply(self, writes: Mapping[bytes, bytes | None], offset: int) -> None: ...
    def flush(self) -> None: ...
    def wipe(self, reason: str) -> None: ...
    def estimated_keys(self) -> int: ...
    def size_bytes(self) -> int: ...
    def close(self) -> None: ...


class FlushTimer:
    """Says when a stage's stores are due for a flush (``state_flush_every_s``)."""

    def __init__(self, every_s: float) -> None:
        self.every_s = every_s
        self._next = time.monotonic() + every_s

    def due(self) -> bool:
        now = time.monotonic()
        if now < self._next:
            return False
        self._next = now + self.every_s
        return True


def open_store(settings: Settings, stage: str, partition: int) -> Store:
    """The store of ``stage``'s ``partition`` as ``settings`` say: RocksDB under
    ``<state_dir>/<stage>/<partition>`` or, with ``state_store = "memory"``, a dict."""
    if settings.state_store == "memory":
        return MemoryStore()
    return PartitionStore.open(
        settings.state_dir / stage / str(partition),
        write_buffer_bytes=settings.state_write_buffer_mb << 20,
        block_cache_bytes=settings.state_block_cache_mb << 20,
    )


__all__ = [
    "FORMAT",
    "FlushTimer",
    "MemoryStore",
    "PartitionStore",
    "StateCleaner",
    "Store",
    "open_store",
]

"""Which event_ids each ingest partition has already accepted (pure).

A platform's SDK keys records by user key, so a re-sent event lands on the same
partition of the same topic: remembering event_ids per input partition is enough.
Entries expire ``window_ms`` after they were accepted. Changes are staged per batch
and applied only after the batch's transaction commits, so an aborted batch leaves
no trace; a batch commits only its own ids, so the next batch (staged while this one
commits, the pipelined loop) stays staged until its own commit. The durable copy is
the compacted ``exchange.ingress-dedup`` topic: one record per accepted event, key
``<topic>|<partition>|<event_id>``, value the expiry.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable

Source = tuple[str, int]  # (ingest topic, partition)


def changelog_key(source: Source, event_id: str) -> bytes:
    return f"{source[0]}|{source[1]}|{event_id}".encode()


def changelog_partition(source: Source, partitions: int) -> int:
    """The dedup-topic partition holding one input partition's memory (stable hash)."""
    return zlib.crc32(f"{source[0]}|{source[1]}".encode()) % partitions


def parse_changelog(key: bytes, value: bytes | None) -> tuple[Source, str, int | None]:
    """``(source, event_id, expiry or None for a tombstone)`` of a changelog record."""
    topic, partition, event_id = key.decode().split("|", 2)
    expiry = int(value) if value else None
    return (topic, int(partition)), event_id, expiry


class DedupMemory:
    """event_ids seen per input partition, with staged (uncommitted) additions."""

    def __init__(self, window_ms: int) -> None:
        self.window_ms = window_ms
        self._seen: dict[Source, dict[str, int]] = {}
        self._staged: dict[Source, dict[str, int]] = {}

    def load(self, source: Source, event_id: str, expiry: int | None, now_ms: int) -> None:
        """Replay one changelog record during recovery."""
        seen = self._seen.setdefault(source, {})
        if expiry is None or expiry <= now_ms:
            seen.pop(event_id, None)
        else:
            seen[event_id] = expiry

    def seen(self, source: Source, event_id: str, now_ms: int) -> bool:
        """True when ``event_id`` was accepted on ``source`` (committed or staged)."""
        staged = self._staged.get(source)
        if staged is not None and event_id in staged:
            return True
        expiry = self._seen.get(source, {}).get(event_id)
        return expiry is not None and expiry > now_ms

    def stage(self, source: Source, event_id: str, now_ms: int) -> int:
        """Remember ``event_id`` for this batch; returns its expiry for the changelog."""
        expiry = now_ms + self.window_ms
        self._staged.setdefault(source, {})[event_id] = expiry
        return expiry

    def commit(self, ids: Iterable[tuple[Source, str]]) -> None:
        """A batch's transaction committed: its staged ``(source, event_id)`` become
        durable memory (others stay staged)."""
        for source, event_id in ids:
            staged = self._staged.get(source)
            expiry = None if staged is None else staged.pop(event_id, None)
            if expiry is not None:
                self._seen.setdefault(source, {})[event_id] = expiry

    def abort(self) -> None:
        """The staged batches' transactions aborted (the loop undoes them together):
        forget everything staged."""
        self._staged.clear()

    def clear(self) -> None:
        """Forget everything (a restarted stage rebuilds its memory from the changelog)."""
        self._seen.clear()
        self._staged.clear()

    def forget(self, sources: Iterable[Source]) -> None:
        """Drop partitions this worker no longer owns (after a rebalance)."""
        for source in sources:
            self._seen.pop(source, None)
            self._staged.pop(source, None)

    def expire(self, now_ms: int) -> int:
        """Drop expired ids from memory; returns how many were dropped."""
        dropped = 0
        for ids in self._seen.values():
            old = [k for k, exp in ids.items() if exp <= now_ms]
            for k in old:
                del ids[k]
            dropped += len(old)
        return dropped

    def size(self) -> int:
        return sum(len(ids) for ids in self._seen.values())

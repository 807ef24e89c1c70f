"""Which event_ids each ingest partition has already accepted.

A platform's SDK keys records by user key, so a re-sent event lands on the same
partition of the same topic: remembering event_ids per input partition (a *source*) is
enough. Entries expire ``window_ms`` after they were accepted. Changes are staged per
batch and applied only after the batch's transaction commits, so an aborted batch
leaves no trace; a batch commits only its own ids, so a batch staged while another
commits stays staged until its own commit.

The durable copy is the compacted ``exchange.ingress-dedup`` topic: one record per
accepted event, key ``<topic>|<partition>|<event_id>``, value the expiry, in the
partition :func:`changelog_partition` picks for the source. The committed ids live in
one partition store per changelog partition (``streams.runtime.state``: RocksDB under
``<state_dir>/ingress/<p>``, or a dict), so memory does not grow with traffic and a
restart replays only the changelog's tail. A changelog partition holds several
sources, possibly written by several workers, so the store keeps a checkpoint per
source: the offset of that source's last record it holds (:func:`checkpoint_key`).
Recovery (``stages.ingress.recovery``) replays each source from its checkpoint.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable, Mapping

from streams.runtime.state import MemoryStore, Store

Source = tuple[str, int]  # (ingest topic, partition)
#: Checkpoint keys sort before every event key (those start with the topic name).
_CHECKPOINT = b"\x00checkpoint|"
SWEEP_BATCH = 20_000  # keys looked at per sweep call (~20 ms, every tick_s)


def changelog_key(source: Source, event_id: str) -> bytes:
    return f"{source[0]}|{source[1]}|{event_id}".encode()


def checkpoint_key(source: Source) -> bytes:
    """The store key of ``source``'s checkpoint (value: a changelog offset)."""
    return _CHECKPOINT + f"{source[0]}|{source[1]}".encode()


def changelog_partition(source: Source, partitions: int) -> int:
    """The dedup-topic partition holding one input partition's memory (stable hash)."""
    return zlib.crc32(f"{source[0]}|{source[1]}".encode()) % partitions


def parse_changelog(key: bytes, value: bytes | None) -> tuple[Source, str, int | None]:
    """``(source, event_id, expiry or None for a tombstone)`` of a changelog record."""
    topic, partition, event_id = key.decode().split("|", 2)
    expiry = int(value) if value else None
    return (topic, int(partition)), event_id, expiry


def _memory(_partition: int) -> Store:
    return MemoryStore()


class Dedup:
    """Committed event_ids in partition stores, staged ones in memory."""

    def __init__(
        self, window_ms: int, partitions: int, open_store: Callable[[int], Store] = _memory
    ) -> None:
        self.window_ms = window_ms
        self.partitions = partitions
        self._open = open_store
        self._stores: dict[int, Store] = {}
        self._where: dict[Source, int] = {}  # source -> changelog partition (cached hash)
        self._staged: dict[Source, dict[str, int]] = {}
        self._sweep_at: dict[int, bytes] = {}  # where the next sweep of a store goes on
        #: source -> (its store's get, its key prefix): ``seen`` without recomputing them
        self._lookup: dict[Source, tuple[Callable[[bytes], bytes | None], bytes]] = {}

    # -- where ----------------------------------------------------------------------
    def partition(self, source: Source) -> int:
        """The changelog partition (and store) of ``source``."""
        c = self._where.get(source)
        if c is None:
            c = self._where[source] = changelog_partition(source, self.partitions)
        return c

    def store(self, partition: int) -> Store:
        """The store of changelog ``partition``, opened on first use."""
        store = self._stores.get(partition)
        if store is None:
            store = self._stores[partition] = self._open(partition)
        return store

    def checkpoint(self, source: Source) -> int | None:
        """The offset of ``source``'s last changelog record its store holds."""
        raw = self.store(self.partition(source)).get(checkpoint_key(source))
        return None if raw is None else int(raw)

    # -- the batch ------------------------------------------------------------------
    def seen(self, source: Source, event_id: str, now_ms: int) -> bool:
        """True when ``event_id`` was accepted on ``source`` (committed or staged)."""
        staged = self._staged.get(source)
        if staged is not None and event_id in staged:
            return True
        found = self._lookup.get(source)
        if found is None:  # per source, once: the hot path is one get
            store = self.store(self.partition(source))
            found = self._lookup[source] = (store.get, f"{source[0]}|{source[1]}|".encode())
        get, prefix = found
        raw = get(prefix + event_id.encode())
        return raw is not None and int(raw) > now_ms

    def stage(self, source: Source, event_id: str, now_ms: int) -> int:
        """Remember ``event_id`` for this batch; returns its expiry for the changelog."""
        expiry = now_ms + self.window_ms
        self._staged.setdefault(source, {})[event_id] = expiry
        return expiry

    def commit(self, ids: Iterable[tuple[Source, str]], reached: Mapping[Source, int]) -> None:
        """A batch's transaction committed: its staged ``(source, event_id)`` go into
        the stores with each source's checkpoint, ``reached[source]`` (the changelog
        offset of the source's last record in the batch). Others stay staged."""
        writes: dict[int, dict[bytes, bytes | None]] = {}
        for source, event_id in ids:
            staged = self._staged.get(source)
            expiry = None if staged is None else staged.pop(event_id, None)
            if expiry is not None:
                batch = writes.setdefault(self.partition(source), {})
                batch[changelog_key(source, event_id)] = str(expiry).encode()
        for source, offset in reached.items():
            writes.setdefault(self.partition(source), {})[checkpoint_key(source)] = str(
                offset
            ).encode()
        for c, batch in writes.items():
            store = self.store(c)
            top = max((o for s, o in reached.items() if self.partition(s) == c), default=-1)
            store.apply(batch, max(top, -1 if store.offset is None else store.offset))

    def abort(self) -> None:
        """The staged batches' transactions aborted: forget everything staged."""
        self._staged.clear()

    def forget(self, sources: Iterable[Source]) -> None:
        """Partitions this worker no longer owns: their staged ids go (the committed
        ones stay on disk for when they come back)."""
        for source in sources:
            self._staged.pop(source, None)

    def flush(self) -> None:
        """Write the stores' memory to their files (see ``PartitionStore.flush``)."""
        for store in self._stores.values():
            store.flush()

    def close(self) -> None:
        """Close every store (a restarted stage reopens them and replays their tails)."""
        self._staged.clear()
        for store in self._stores.values():
            store.close()
        self._stores.clear()
        self._lookup.clear()
        self._sweep_at.clear()

    # -- expiry and size ------------------------------------------------------------
    def sweep(self, now_ms: int, budget: int = SWEEP_BATCH) -> int:
        """Delete up to ``budget`` keys' worth of expired ids, going on where the last
        sweep stopped (one store after another); returns how many were deleted."""
        deleted = 0
        for c, store in self._stores.items():
            if budget <= 0:
                break
            if store.offset is None:
                continue
            limit = budget
            found = store.scan(self._sweep_at.get(c, b""), limit)
            budget -= len(found)
            gone: dict[bytes, bytes | None] = {
                k: None for k, v in found if not k.startswith(_CHECKPOINT) and int(v) <= now_ms
            }
            if gone:
                store.apply(gone, store.offset)
                deleted += len(gone)
            # A full scan goes on after its last key next time; a short one reached the end.
            self._sweep_at[c] = found[-1][0] + b"\x00" if len(found) == limit else b""
        return deleted

    def size(self) -> int:
        """Ids held (committed; RocksDB's estimate on disk)."""
        return sum(s.estimated_keys() for s in self._stores.values())

    def size_bytes(self) -> int:
        return sum(s.size_bytes() for s in self._stores.values())

"""One stage partition's state on disk: RocksDB (``rocksdict``) and its changelog offset.

Kafka Streams and Quix Streams keep a partition's state in RocksDB with the changelog
offset it reaches stored beside it, so recovery replays only the changelog's tail. This
is that store for one (stage, partition); ``streams.runtime.state`` says how stages use it.

Contract:

* :meth:`PartitionStore.open` opens the store under ``path`` or creates it. A store it
  cannot read (corrupt, another format) is wiped and created empty, with a log line
  saying why: losing a local store costs a full replay, never data (the changelog topic
  is the truth). One locked by a live RocksDB (two workers sharing a state dir) is an
  error (:class:`StateInUseError`), never wiped.
* :attr:`~PartitionStore.offset` is the offset of the last changelog record the stored
  state includes (None: empty, replay everything).
* :meth:`~PartitionStore.apply` writes a batch's records (None deletes) and the offset
  they reach in ONE atomic RocksDB write batch. Call it only after the Kafka transaction
  that wrote those changelog records committed: the store may lag Kafka (the tail replay
  repairs that) but is never ahead of it.
* :meth:`~PartitionStore.wipe` empties the store (a changelog that no longer holds the
  stored offset: truncated, compacted past it, another cluster).
* Keys and values are bytes, stored as they are (``raw_mode``): the stages' own record
  formats, so a format change reads old records the way the changelog replay does.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Iterator, Mapping
from itertools import islice, takewhile
from pathlib import Path
from typing import Any, Final

from rocksdict import BlockBasedOptions, Cache, Options, Rdict, WriteBatch, WriteOptions

from streams.errors import CreditstreamError

log = logging.getLogger(__name__)

_META: Final = "meta"  # column family: the store's own facts, never state records
_OFFSET: Final = b"changelog-offset"
_WRITTEN_AT: Final = b"written-at-ms"
_FORMAT_KEY: Final = b"format"
#: Bump when the store's own layout (not the stages' record formats) changes: an older
#: store is then wiped and restored from the changelog. 2: the borrower stage keeps its
#: subscription-expiry index in its stores (a format-1 store has none).
FORMAT: Final = b"2"


def _options(write_buffer_bytes: int, block_cache_bytes: int) -> Options:
    opts = Options(raw_mode=True)
    opts.create_if_missing(True)
    opts.create_missing_column_families(True)
    # No write-ahead log (see _write_options): the offset and the records it covers
    # must reach the files together, so every column family flushes at once.
    opts.set_atomic_flush(True)
    opts.set_write_buffer_size(write_buffer_bytes)
    table = BlockBasedOptions()
    table.set_block_cache(Cache(block_cache_bytes))
    # A bloom filter per table file (10 bits a key, as Kafka Streams' RocksDB stores):
    # looking up a key that is not there (a borrower's first event, an event_id not
    # seen yet: the common case of a dedup check) skips the data blocks: 0.5 instead
    # of 5 us per miss on 1 M keys (bench/bench_rocksdb_get.py on the 2-core VM).
    table.set_bloom_filter(10, False)
    opts.set_block_based_table_factory(table)
    return opts


def _write_options() -> WriteOptions:
    """Writes skip RocksDB's write-ahead log: the changelog in Kafka is the log. A crash
    loses what was not flushed yet, records and offset alike (atomic flush), so the
    store comes back at an older offset and recovery replays a longer tail; the WAL
    cost about as much CPU again as the write itself (1.7 vs 2.9 us per 400-byte
    record, measured with rocksdict 0.3 on this VM)."""
    opts = WriteOptions()
    opts.disable_wal = True  # type: ignore[method-assign,assignment]  # a property at runtime
    return opts


class StateInUseError(CreditstreamError):
    """The store's directory is locked by a live RocksDB (another worker's?)."""


class PartitionStore:
    """The on-disk state of one stage partition (see the module docstring)."""

    def __init__(self, path: Path, db: Rdict, options: Options) -> None:
        self.path = path
        self._db: Rdict | None = db
        self._options = options
        self._meta_handle: Any = db.get_column_family_handle(_META)
        meta = db.get_column_family(_META)
        raw, at = meta.get(_OFFSET), meta.get(_WRITTEN_AT)
        del meta  # a column family object keeps the database open
        self.offset: int | None = None if raw is None else int(raw)
        #: Wall time of the last :meth:`apply` (epoch ms; 0 when never written).
        self.written_at_ms = 0 if at is None else int(at)

    @classmethod
    def open(
        cls,
        path: Path,
        *,
        write_buffer_bytes: int = 16 << 20,
        block_cache_bytes: int = 32 << 20,
    ) -> PartitionStore:
        """Open (or create) the store at ``path``; wipe one that cannot be read."""
        options = _options(write_buffer_bytes, block_cache_bytes)
        try:
            store = cls._open(path, options)
        except Exception as exc:  # rocksdict raises plain Exceptions
            if "lock" in str(exc).lower():  # another live store: never wipe it
                raise StateInUseError(
                    f"state store {path} is open in another process or stage: give each "
                    "worker its own state_dir"
                ) from None
            log.warning("state store %s unreadable (%s): wiped, restoring in full", path, exc)
            shutil.rmtree(path, ignore_errors=True)
            return cls._open(path, options)
        return store

    @classmethod
    def _open(cls, path: Path, options: Options) -> PartitionStore:
        path.mkdir(parents=True, exist_ok=True)
        families: dict[str, Any] = {_META: Options(raw_mode=True)}
        db = Rdict(str(path), options=options, column_families=families)
        db.set_write_options(_write_options())
        meta = db.get_column_family(_META)
        found = meta.get(_FORMAT_KEY)
        if found is None:
            meta.put(_FORMAT_KEY, FORMAT)
        del meta
        if found not in (None, FORMAT):
            db.close()
            raise ValueError(f"store format {found!r}, this release writes {FORMAT!r}")
        return cls(path, db, options)

    @property
    def db(self) -> Rdict:
        if self._db is None:
            raise ValueError(f"state store {self.path} is closed")
        return self._db

    def get(self, key: bytes) -> bytes | None:
        value: bytes | None = self.db.get(key)
        return value

    def items(self) -> Iterator[tuple[bytes, bytes]]:
        """Every state record, in key order."""
        yield from self.db.items()

    def scan(self, start: bytes, limit: int, end: bytes | None = None) -> list[tuple[bytes, bytes]]:
        """Up to ``limit`` records from the first key at or after ``start`` and before
        ``end`` (None: no bound), in key order."""
        it: Iterator[tuple[bytes, bytes]] = self.db.items(from_key=start)  # type: ignore[assignment]
        if end is not None:
            it = takewhile(lambda kv: kv[0] < end, it)
        return list(islice(it, limit))

    def apply(self, writes: Mapping[bytes, bytes | None], offset: int) -> None:
        """``writes`` (None: delete) and the changelog ``offset`` they reach, atomically
        (with the wall time, :attr:`written_at_ms`)."""
        if self.offset is not None and offset < self.offset:
            raise ValueError(f"changelog offset {offset} is behind the store's {self.offset}")
        batch = WriteBatch(raw_mode=True)
        for key, value in writes.items():
            if value is None:
                batch.delete(key)
            else:
                batch.put(key, value)
        now = int(time.time() * 1000)
        batch.put(_OFFSET, str(offset).encode(), self._meta_handle)
        batch.put(_WRITTEN_AT, str(now).encode(), self._meta_handle)
        self.db.write(batch)
        self.offset, self.written_at_ms = offset, now

    def flush(self) -> None:
        """Write what is in memory to the files (no write-ahead log: until then a crash
        loses it, and recovery replays it from the changelog). The records first, then
        the offset: a crash between leaves newer records under an older offset, which
        the replay rewrites with the same values; never an offset ahead of them."""
        db = self.db
        db.flush()
        meta = db.get_column_family(_META)
        meta.flush()
        del meta  # a column family object keeps the database open

    def wipe(self, reason: str) -> None:
        """Empty the store (the next recovery replays the whole changelog)."""
        log.warning("state store %s wiped: %s", self.path, reason)
        self.close()
        Rdict.destroy(str(self.path), self._options)
        shutil.rmtree(self.path, ignore_errors=True)
        fresh = PartitionStore._open(self.path, self._options)
        self._db, self._meta_handle = fresh._db, fresh._meta_handle
        self.offset, self.written_at_ms = None, 0
        fresh._db = None

    def size_bytes(self) -> int:
        """Bytes the store takes on disk (its files, write-ahead log included)."""
        return sum(f.stat().st_size for f in self.path.rglob("*") if f.is_file())

    def estimated_keys(self) -> int:
        return int(self.db.property_int_value("rocksdb.estimate-num-keys") or 0)

    def close(self) -> None:
        """Flush and close; the files stay for the next :meth:`open`. The directory's
        mtime becomes the closing time (``state.cleanup`` deletes long-closed stores)."""
        if self._db is not None:
            self._meta_handle = None  # a handle keeps the database open too
            self._db.close()
            self._db = None
            os.utime(self.path)

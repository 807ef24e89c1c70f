"""Recovery of ingress's dedup memory on assignment, before any input is read.

The assigned sources (ingest partitions) are grouped by the ``exchange.ingress-dedup``
partition that holds their event_ids. Each group's store is caught up from the
changelog: a source's records after its checkpoint (all of them for a source without
one) are applied; other sources' records in the same partition are skipped. Afterwards
every assigned source's checkpoint is the partition's end, so the next recovery of it
reads only what came later. A store that cannot be trusted is wiped first, with a log
line saying why (:func:`untrusted`): a checkpoint outside the changelog's range
(compacted or deleted past it, another cluster's topic), or a store last written
longer ago than the changelog keeps tombstones.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable

from streams import topics
from streams.runtime.changelog import replay_changelog, watermarks
from streams.runtime.state import Store
from streams.settings import KafkaConf
from streams.stages.ingress.dedup import Dedup, Source, checkpoint_key, parse_changelog
from streams.topology import TOMBSTONE_RETENTION_MS

log = logging.getLogger(__name__)
CHUNK = 5_000  # replayed records per store write


def restore_dedup(
    conf: KafkaConf,
    app_id: str,
    dedup: Dedup,
    sources: Iterable[Source],
    now_ms: int,
    open_txn_wait_s: float,
    stopping: threading.Event | None = None,
) -> int:
    """Catch the stores of ``sources`` up with the changelog; returns the records
    applied (expired ids are applied as deletions)."""
    groups: dict[int, set[Source]] = {}
    for s in sources:
        groups.setdefault(dedup.partition(s), set()).add(s)
    if not groups:
        return 0
    ends = watermarks(conf, topics.INGRESS_DEDUP, groups, f"{app_id}-replay-ends")
    marks: dict[Source, int] = {}  # records of a source at or below this are in its store
    start: dict[int, int] = {}
    for c, group in groups.items():
        low, high = ends[c]
        store = dedup.store(c)
        found = {s: dedup.checkpoint(s) for s in group}
        why = untrusted(store, found, low, high)
        if why is not None:
            store.wipe(f"ingress dedup partition {c}: {why}")
            found = dict.fromkeys(group)
        for s, cp in found.items():
            marks[s] = -1 if cp is None else cp
        complete = all(cp is not None for cp in found.values())
        start[c] = min(marks[s] + 1 for s in group) if complete else low
    chunks: dict[int, dict[bytes, bytes | None]] = {c: {} for c in groups}
    top: dict[int, int] = {}
    applied = 0

    def flush(c: int) -> None:
        if chunks[c]:
            store = dedup.store(c)
            store.apply(chunks[c], max(top[c], -1 if store.offset is None else store.offset))
            chunks[c] = {}

    def on_record(c: int, offset: int, key: bytes, value: bytes | None) -> None:
        nonlocal applied
        source, _event_id, expiry = parse_changelog(key, value)
        mark = marks.get(source)
        if mark is None or offset <= mark:
            return  # another worker's source, or already in the store
        chunks[c][key] = value if expiry is not None and expiry > now_ms else None
        chunks[c][checkpoint_key(source)] = str(offset).encode()
        top[c] = offset
        applied += 1
        if len(chunks[c]) >= CHUNK:
            flush(c)

    replay_changelog(
        conf,
        topics.INGRESS_DEDUP,
        groups,
        on_record,
        group_prefix=app_id,
        start=start,
        open_txn_wait_s=open_txn_wait_s,
        marks=ends,
        stopping=stopping,
    )
    for c, group in groups.items():
        # Everything of these sources up to the end is in the store now (the replay
        # reads to the high watermark, waiting out open transactions; -1: the partition
        # was empty), so their next recovery starts there.
        high = ends[c][1]
        for s in group:
            chunks[c][checkpoint_key(s)] = str(high - 1).encode()
        top[c] = max(top.get(c, -1), high - 1)
        flush(c)
    dedup.flush()  # restored: a crash now replays only what comes after
    return applied


def untrusted(
    store: Store, checkpoints: dict[Source, int | None], low: int, high: int
) -> str | None:
    """Why a dedup store must be wiped before recovery (None: it can be trusted)."""
    for source, cp in checkpoints.items():
        if cp is None:
            continue
        if cp + 1 < low:
            return f"the changelog starts at {low}, after {source}'s checkpoint {cp}"
        if cp >= high:
            return f"{source}'s checkpoint {cp} is past the changelog's end {high}"
    if store.offset is not None and time.time() * 1000 - store.written_at_ms > (
        TOMBSTONE_RETENTION_MS / 2
    ):
        return "it was last written before the changelog's tombstones may have gone"
    return None

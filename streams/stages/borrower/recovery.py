"""Recovery of the borrower stage's partitions on assignment, before any input is read.

Two things come back per assigned partition p:

* the committed entries: the partition's local store (``streams.runtime.state``)
  caught up with ``exchange.borrower-state`` partition p, replaying only the records
  after the offset it reaches (all of them for a new or wiped store,
  :func:`replay_start`), each replayed record written with its expiry's index key
  (``stages.borrower.expiries``: nothing is scanned afterwards; entries are decoded
  lazily on first touch); progress is reported (and logged, with
  the rate and the time left) every ``REPORT_EVERY`` records and at the end, against
  the records to replay;
* the hash chain head of ``exchange.audit`` partition p: the newest committed record's
  hash (:func:`audit_heads`). A crashed writer's open transaction hides the tail until
  the broker aborts it (the transaction timeout), so a head that cannot be read yet is
  retried, not guessed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from streams import topics
from streams.domain.audit import ChainHead
from streams.errors import BrokerError
from streams.runtime.auditlog import chain_heads
from streams.runtime.changelog import replay_changelog, watermarks
from streams.runtime.state import Store
from streams.settings import KafkaConf
from streams.stages.borrower.store import BorrowerStore
from streams.topology import TOMBSTONE_RETENTION_MS
from streams.wire.codec import SniffingCodec

log = logging.getLogger(__name__)
REPORT_EVERY = 50_000  # records between progress reports
CHUNK = 5_000  # replayed records per store write

#: ``report(records replayed since the last report, progress 0..1, records left)``; the
#: last report of a recovery says 1.0 and 0 (transaction markers count in the total,
#: not in the records).
Report = Callable[[int, float, int], None]


def restore(
    conf: KafkaConf,
    app_id: str,
    partitions: list[int],
    store: BorrowerStore,
    report: Report,
    open_txn_wait_s: float,
    stopping: threading.Event | None = None,
) -> int:
    """Bring the stores of ``partitions`` up to ``exchange.borrower-state``: replay what
    follows the offset each store reaches (all of a partition whose store is new or was
    wiped, :func:`replay_start`); returns the records replayed."""
    if not partitions:
        report(0, 1.0, 0)
        return 0
    start: dict[int, int] = {}
    total = 0
    group = f"{app_id}-replay-ends"
    marks = watermarks(conf, topics.BORROWER_STATE, partitions, group)
    for p, (low, high) in marks.items():
        begin = replay_start(store.partition_store(p), low, high, p)
        start[p] = begin if begin is not None else low
        total += max(0, high - start[p])
    report(0, 0.0 if total else 1.0, total)
    began = time.monotonic()
    chunks: dict[int, dict[bytes, bytes | None]] = {p: {} for p in partitions}
    last: dict[int, int] = {}
    pending = seen = 0

    def flush(p: int) -> None:
        if chunks[p]:
            store.restore_chunk(p, chunks[p], last[p])
            chunks[p] = {}

    def on_record(p: int, offset: int, key: bytes, value: bytes | None) -> None:
        nonlocal pending, seen
        chunks[p][key] = value
        last[p] = offset
        if len(chunks[p]) >= CHUNK:
            flush(p)
        pending += 1
        if pending >= REPORT_EVERY:
            seen += pending
            left = max(0, total - seen)
            rate = seen / max(1e-3, time.monotonic() - began)
            log.info(
                "borrower recovery of %s: %d of %d records replayed, %.0f/s, about %.0f s left",
                partitions,
                seen,
                total,
                rate,
                left / rate,
            )
            report(pending, min(1.0, seen / total), left)
            pending = 0

    count = replay_changelog(
        conf,
        topics.BORROWER_STATE,
        partitions,
        on_record,
        group_prefix=app_id,
        start=start,
        open_txn_wait_s=open_txn_wait_s,
        marks=marks,
        stopping=stopping,
    )
    for p in partitions:
        flush(p)
    store.flush()  # restored: a crash now replays only what comes after
    report(pending, 1.0, 0)
    return count


def replay_start(st: Store, low: int, high: int, partition: int) -> int | None:
    """The first changelog offset a partition's store still needs (None: all of it).

    A store is wiped (a log line says why) when its offset is not inside the
    changelog's range (compacted or deleted past it, or another cluster's topic) or
    when it was last written longer ago than tombstones are kept
    (``topology.TOMBSTONE_RETENTION_MS``: a deletion compacted away meanwhile would be
    missed)."""
    if st.offset is None:
        return None
    why = None
    if st.offset + 1 < low:
        why = f"the changelog starts at {low}, after the store's offset {st.offset}"
    elif st.offset >= high:
        why = f"the store's offset {st.offset} is past the changelog's end {high}"
    elif time.time() * 1000 - st.written_at_ms > TOMBSTONE_RETENTION_MS / 2:
        why = "it was last written before the changelog's tombstones may have gone"
    if why is not None:
        st.wipe(f"borrower partition {partition}: {why}")
        return None
    return st.offset + 1


def audit_heads(
    conf: KafkaConf, parts: list[int], codec: SniffingCodec, stopping: threading.Event
) -> dict[int, ChainHead]:
    """The audit chain heads of ``parts``, waiting out a crashed writer's open
    transaction (raises once ``stopping`` is set)."""
    while True:
        try:
            return chain_heads(conf, parts, codec=codec)
        except BrokerError as exc:
            if stopping.is_set():
                raise
            log.warning("audit chain heads not readable yet (%s); retrying", exc)
            time.sleep(1)

"""Recovery: read a compacted changelog's partitions to their end.

A stage's state is the latest record per key of its changelog topic (one partition per
input partition it owns); on assignment the stage replays those partitions before it
reads any input (committed data only, so an aborted batch's state records never come
back): from the start, or, for a partition whose local store already holds the state up
to some offset (``streams.runtime.state``), from the record after it.

"To their end" means the high watermark, not the last stable offset: a transaction
still open when the replay starts (the previous owner's commit in flight, a crashed
or paused writer's batch) hides its records from a read_committed reader, and a replay
that stopped there would miss state whose offsets the consumer then finds committed
(its offset fetch waits for the transaction, KIP-447). So the replay waits until every
such transaction has ended: committed (its records are read) or aborted (skipped), by
its writer or by the broker's transaction timeout at the latest.

A transaction still open well past that timeout is a hanging one (its writer's records
reached the log after the coordinator ended it; KAFKA-12671): the broker will never
end it, only an operator can (``kafka-transactions.sh find-hanging`` / ``abort``).
The replay goes on waiting, and says so in an error line every ``open_txn_wait_s``:
it hides every record committed after it, and a stage that went on without them would
apply its input to state that lacks committed changes (a chaos run caught ingress
accepting an event twice that way, its dedup record hidden). The stage stays unready
(``/ready`` answers 503) until the transaction is aborted; a stop request ends the
wait with :class:`ReplayStoppedError`.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Final

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition

from streams.errors import BrokerError
from streams.runtime.clients import fetch_batch
from streams.settings import KafkaConf

log = logging.getLogger(__name__)
#: Seconds a replay waits on an open transaction before it says so in the log.
WAIT_NOTICE_S = 2.0
#: How long after a writer's transaction timeout the broker may take to abort it (its
#: check runs every ``transaction.abort.timed.out.transaction.cleanup.interval.ms``,
#: 10 s by default).
ABORT_GRACE_S = 15.0


class ReplayStoppedError(BrokerError):
    """The stage was asked to stop while its replay waited for a transaction to end."""


def open_txn_wait(transaction_timeout_ms: int) -> float:
    """Seconds a replay waits for a transaction its writers' timeout would abort."""
    return transaction_timeout_ms / 1000 + ABORT_GRACE_S


#: Fetch sizes of a replay (``conf`` may override them): bigger than librdkafka's 1 MiB
#: per partition, since a replay reads whole partitions as fast as it can. A full
#: restore of 2 M borrower records went from ~113 k to ~148 k records/s
#: (``bench/bench_restore.py``, A/B alternated: ``bench/results/restore_fetch_ab.json``).
REPLAY_FETCH: Final = {"max.partition.fetch.bytes": 8 << 20, "fetch.max.bytes": 64 << 20}

#: ``on_record(partition, offset, key, value)`` of a changelog replay.
OnRecord = Callable[[int, int, bytes, bytes | None], None]


def replay_changelog(
    conf: KafkaConf,
    topic: str,
    partitions: Iterable[int],
    on_record: OnRecord,
    batch: int = 10_000,
    group_prefix: str = "creditstream",
    start: Mapping[int, int] | None = None,
    open_txn_wait_s: float = open_txn_wait(60_000),
    marks: Mapping[int, tuple[int, int]] | None = None,
    stopping: threading.Event | None = None,
) -> int:
    """Read ``partitions`` of ``topic`` to their current end (committed data only), all
    at once, from ``start[p]`` (default: the start), calling ``on_record(partition,
    offset, key, value)`` for each; returns the count. A partition that shows no new
    record for ``open_txn_wait_s`` while a transaction hides its end is reported in an
    error line (again every ``open_txn_wait_s``) and waited for; ``stopping`` set ends
    the wait with :class:`ReplayStoppedError`. ``marks``: the partitions' :func:`watermarks`,
    when the caller already asked for them."""
    group = f"{group_prefix}-replay-{uuid.uuid4().hex[:8]}"
    reader = Consumer(
        REPLAY_FETCH
        | conf
        | {
            # Never joins or commits (assign only), but stays inside the exchange's prefix.
            "group.id": group,
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
            "enable.partition.eof": True,
            # Compaction and retention move a changelog's start past 0: begin at the
            # earliest offset that exists rather than jumping to the end.
            "auto.offset.reset": "earliest",
        }
    )
    count = 0
    try:
        ends: dict[int, int] = {}
        first: dict[int, int] = {}
        if marks is None:
            marks = watermarks(conf, topic, set(partitions), group)
        for p, (low, high) in marks.items():
            first[p] = OFFSET_BEGINNING if start is None or p not in start else start[p]
            if high > max(low, first[p]):
                ends[p] = high
        reader.assign([TopicPartition(topic, p, first[p]) for p in ends])
        noticed = time.monotonic()
        moved = dict.fromkeys(ends, noticed)  # when each partition last gave a record
        while ends:
            for msg in fetch_batch(reader, batch, 1.0):
                err, part, offset = msg.error(), msg.partition() or 0, msg.offset() or 0
                if err is not None:
                    # A read_committed reader's end of partition is the last stable
                    # offset: below the end, an open transaction still hides records.
                    if err.code() == KafkaError._PARTITION_EOF and offset >= ends.get(part, 0):
                        ends.pop(part, None)
                    continue
                if part not in ends:  # past its end in a batch fetched with another's
                    continue
                on_record(part, offset, msg.key() or b"", msg.value())
                count += 1
                moved[part] = time.monotonic()
                # Transaction markers occupy offsets too: stop at the end, not at EOF only.
                if offset + 1 >= ends[part]:
                    ends.pop(part, None)
            now = time.monotonic()
            if ends and now - noticed > WAIT_NOTICE_S:
                noticed = now
                if stopping is not None and stopping.is_set():
                    raise ReplayStoppedError(f"replay of {topic} {sorted(ends)} stopped: stopping")
                stable = _stable(reader, topic, ends)
                waits = ", ".join(f"[{p}] stable to {stable[p]}, end {e}" for p, e in ends.items())
                log.info("replay of %s waits for open transactions to end: %s", topic, waits)
                for p in [p for p in ends if now - moved[p] > open_txn_wait_s]:
                    moved[p] = now  # the next error line after another open_txn_wait_s
                    log.error(
                        "replay of %s[%d] waits at %d, end %d: a transaction open for over "
                        "%.0f s, past its writer's timeout, hides the rest (a hanging "
                        "transaction: kafka-transactions.sh find-hanging, then abort); "
                        "the stage stays unready until it ends",
                        topic,
                        p,
                        stable[p],
                        ends[p],
                        open_txn_wait_s,
                    )
    finally:
        reader.close()
    return count


def watermarks(
    conf: KafkaConf, topic: str, partitions: Iterable[int], group: str
) -> dict[int, tuple[int, int]]:
    """``(low, high)`` per partition, ``high`` the high watermark: records of open
    transactions included (a read_committed client would be told the last stable
    offset)."""
    probe = Consumer(
        conf
        | {"group.id": group, "enable.auto.commit": False, "isolation.level": "read_uncommitted"}
    )
    try:
        return {
            p: probe.get_watermark_offsets(TopicPartition(topic, p), timeout=10) for p in partitions
        }
    finally:
        probe.close()


def _stable(reader: Consumer, topic: str, parts: Iterable[int]) -> dict[int, int]:
    """The last stable offset of ``parts`` (a read_committed client's end), -1 unknown."""
    stable: dict[int, int] = {}
    for p in parts:
        try:
            stable[p] = reader.get_watermark_offsets(TopicPartition(topic, p), timeout=5)[1]
        except KafkaException:
            stable[p] = -1
    return stable

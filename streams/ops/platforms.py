"""The compliance view of contributing platforms, read from Kafka itself.

For every platform with ingest topics: when it last sent a record (the newest record's
broker timestamp), how many records it sent in the window, how many of them the
exchange refused and why. Counts come from the topics, not from any worker's memory,
so a regulator gets the same answer whichever worker runs:

* records sent = log end offset minus the first offset at or after the window start,
  per ingest partition (platform producers are idempotent, not transactional, so there
  are no control records inflating offsets);
* rejects = records read from ``ingest.<p>.rejected`` whose ``cs.rejected.at`` header
  falls in the window (that topic is written transactionally: commit markers occupy
  offsets there, so it is counted by reading, not by offsets);
* objections = the latest record per dispute id on ``platforms.<p>.disputes``: open
  ones (deadline ahead), and unanswered ones (closed NOT_VERIFIED in the window, or
  still open past the deadline because no worker has closed them yet): a platform that
  lets borrowers' objections run out is failing its duty to verify.
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Message, TopicPartition
from confluent_kafka.admin import AdminClient

from streams import topics
from streams.domain.validation import to_epoch_ms
from streams.errors import DecodeError
from streams.settings import KafkaConf
from streams.wire.codec import SniffingCodec
from streams.wire.rejects import from_headers
from streams.wire.schemas import DISPUTE


@dataclass
class PlatformStats:
    """One platform's contribution over the window (times in epoch ms)."""

    platform: str
    last_record_ms: int | None = None
    records: int = 0
    rejects: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    disputes_open: int = 0
    disputes_unanswered: int = 0
    #: closed in the window, by outcome (CORRECTED, CONFIRMED, NOT_VERIFIED)
    disputes_closed: Counter[str] = field(default_factory=Counter)

    @property
    def reject_rate(self) -> float:
        return self.rejects / self.records if self.records else 0.0


def _consumer(conf: KafkaConf) -> Consumer:
    return Consumer(
        conf
        | {
            "group.id": f"creditstream-platforms-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "isolation.level": "read_committed",
        }
    )


def _ingest_partitions(conf: KafkaConf) -> dict[str, list[TopicPartition]]:
    metadata = AdminClient(conf).list_topics(timeout=10)
    found: dict[str, list[TopicPartition]] = {}
    for name, topic in metadata.topics.items():
        parsed = topics.platform_of(name)
        if parsed is not None:
            found.setdefault(parsed[0], []).extend(
                TopicPartition(name, p) for p in topic.partitions
            )
    return found


def _count_and_last(
    consumer: Consumer, parts: list[TopicPartition], since_ms: int
) -> tuple[int, int | None]:
    """Records at or after ``since_ms`` and the newest record's timestamp."""
    starts = consumer.offsets_for_times(
        [TopicPartition(tp.topic, tp.partition, since_ms) for tp in parts], timeout=10
    )
    records, last_ms = 0, None
    tails: list[TopicPartition] = []
    for tp in starts:
        _low, high = consumer.get_watermark_offsets(tp, timeout=10)
        first = tp.offset if tp.offset >= 0 else high  # -1: nothing at or after since
        records += max(0, high - first)
        if high > 0:
            tails.append(TopicPartition(tp.topic, tp.partition, high - 1))
    if tails:
        consumer.assign(tails)
        pending = {(tp.topic, tp.partition) for tp in tails}
        while pending:
            msgs = consumer.consume(len(pending), timeout=5)
            if not msgs:
                break
            for msg in msgs:
                pending.discard((msg.topic() or "", msg.partition() or 0))
                if msg.error() is None:
                    ts = msg.timestamp()[1]
                    last_ms = ts if last_ms is None else max(last_ms, ts)
        consumer.unassign()
    return records, last_ms


def _partitions(consumer: Consumer, topic: str) -> list[int]:
    """The partitions of ``topic`` (none when it does not exist)."""
    metadata = consumer.list_topics(topic, timeout=10).topics.get(topic)
    if metadata is None or metadata.error is not None:
        return []
    return sorted(metadata.partitions)


def _read(consumer: Consumer, starts: list[TopicPartition]) -> list[Message]:
    """Every committed record from ``starts`` to the end of each partition."""
    if not starts:
        return []
    consumer.assign(starts)
    open_parts, found = {(tp.topic, tp.partition) for tp in starts}, []
    while open_parts:
        msgs = consumer.consume(1000, timeout=5)
        if not msgs:
            break
        for msg in msgs:
            err = msg.error()
            if err is None:
                found.append(msg)
            elif err.code() == KafkaError._PARTITION_EOF:
                open_parts.discard((msg.topic() or "", msg.partition() or 0))
    consumer.unassign()
    return found


def _rejects(consumer: Consumer, platform: str, since_ms: int, stats: PlatformStats) -> None:
    topic = topics.rejected(platform)
    wanted = [TopicPartition(topic, p, since_ms) for p in _partitions(consumer, topic)]
    starts = consumer.offsets_for_times(wanted, timeout=10) if wanted else []
    for msg in _read(consumer, [tp for tp in starts if tp.offset >= 0]):
        try:
            reject = from_headers(msg.headers(), msg.value())
        except ValueError:
            continue
        if reject.rejected_at_ms >= since_ms:
            stats.rejects += 1
            stats.reasons[reject.reason] += 1


def _disputes(
    consumer: Consumer, codec: SniffingCodec, platform: str, since_ms: int, now_ms: int,
    stats: PlatformStats,
) -> None:  # fmt: skip
    latest: dict[bytes, dict[str, Any]] = {}
    topic = topics.disputes(platform)
    starts = [TopicPartition(topic, p, OFFSET_BEGINNING) for p in _partitions(consumer, topic)]
    for msg in _read(consumer, starts):
        try:
            _, datum = codec.decode(msg.value() or b"", {DISPUTE})
        except DecodeError:
            continue  # only the exchange writes it: nothing to count
        latest[msg.key() or b""] = datum
    for d in latest.values():
        closed = d["closed_at"]
        if d["status"] == "OPEN":
            late = to_epoch_ms(d["deadline"]) <= now_ms
            stats.disputes_unanswered += late
            stats.disputes_open += not late
        elif closed is not None and to_epoch_ms(closed) >= since_ms:
            stats.disputes_closed[d["status"]] += 1
            stats.disputes_unanswered += d["status"] == "NOT_VERIFIED"


def platform_stats(
    conf: KafkaConf, since_ms: int, codec: SniffingCodec, now_ms: int
) -> list[PlatformStats]:
    """Every platform's contribution since ``since_ms``, sorted by name."""
    consumer = _consumer(conf)
    try:
        out = []
        for platform, parts in sorted(_ingest_partitions(conf).items()):
            stats = PlatformStats(platform)
            stats.records, stats.last_record_ms = _count_and_last(consumer, parts, since_ms)
            _rejects(consumer, platform, since_ms, stats)
            _disputes(consumer, codec, platform, since_ms, now_ms, stats)
            out.append(stats)
        return out
    finally:
        consumer.close()

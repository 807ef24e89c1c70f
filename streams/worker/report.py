"""A person's own report, read from what the borrower stage has committed to Kafka.

Where the inputs come from, and why: the borrower's state record from the compacted
``exchange.borrower-state`` (the latest record of its key), its deliveries from
``exchange.audit``, its earlier reports from ``exchange.reports``. All three are keyed
by borrower_id and co-partitioned, so only the one partition holding the borrower is
read (``wire.partition``: the murmur2 partition the stage's producers chose), committed
data only. Reading the topics rather than asking the worker that owns the partition
(an interactive query) needs no worker running and no routing between workers, and
answers from exactly what the exchange has committed; it costs a scan of one changelog
partition per report (about a second per 100 000 borrowers in it: fine for a right
exercised twice a year, not for a bank's hot path). This module sits in the worker
layer because it decodes the stage's state record (only the worker imports stages).

Under a rotated pseudonymization key a person has one borrower_id per key version:
deliveries and reports of every version count; the profile is the current version's
state, or the newest found under an older one.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime

from confluent_kafka import Producer

from streams import topics
from streams.domain.audit import GENESIS, ChainVerifier
from streams.domain.privacy import Pseudonymizer
from streams.domain.profile.windows import ProfileConfig
from streams.domain.report import Report, build_report
from streams.domain.validation import to_epoch_ms
from streams.errors import BrokerError
from streams.runtime.auditlog import read_audit
from streams.runtime.registry import codec_for
from streams.runtime.topicread import connect_timeout, read_from_start, topic_partitions
from streams.settings import KafkaConf, Settings
from streams.stages.borrower.entry import BorrowerEntry, borrower_entry_from_bytes
from streams.wire.codec import SniffingCodec
from streams.wire.partition import partition_for
from streams.wire.schemas import REPORT_ISSUED

MISSING = "has the exchange been started (creditstream worker provisions it)?"


def person_report(
    settings: Settings,
    pseudo: Pseudonymizer,
    national_id: str,
    config: ProfileConfig,
    *,
    channel: str = "cli",
    timeout: float = 30.0,
) -> Report:
    """The report of the person with ``national_id`` (normalized, valid), recorded on
    ``exchange.reports`` as given (see the module doc)."""
    conf = settings.kafka_client_config()
    codec = codec_for(settings.schema_registry_url)
    current, where = borrower_partitions(conf, pseudo, national_id, timeout)
    entries = committed_entries(conf, where, timeout)
    entry = entries.get(current) or next(iter(entries.values()), None)
    deliveries, problems = _deliveries(conf, codec, where, timeout)
    now = int(time.time() * 1000)
    earlier = _reports_this_year(conf, codec, where, now, timeout)
    _record(conf, codec, current, now, channel)
    return build_report(
        current,
        None if entry is None else entry.state,
        {} if entry is None else entry.subs,
        deliveries,
        now,
        config,
        chain_problems=problems,
        reports_this_year=earlier + 1,
        rights=None if entry is None else entry.rights,
    )


def borrower_partitions(
    conf: KafkaConf, pseudo: Pseudonymizer, national_id: str, timeout: float
) -> tuple[str, dict[str, int]]:
    """The person's current borrower_id, and the partition of each of their borrower_ids
    (one per key version) in the co-partitioned borrower topics."""
    current = pseudo.borrower_id(national_id)
    ids = {pseudo.borrower_id(national_id, v) for v in pseudo.versions}
    count = len(
        topic_partitions(
            conf, topics.BORROWER_STATE, timeout=connect_timeout(timeout), missing=MISSING
        )
    )
    return current, {bid: partition_for(bid.encode(), count) for bid in ids}


def _records_of(
    conf: KafkaConf, topic: str, where: dict[str, int], timeout: float
) -> Iterator[tuple[str, bytes | None]]:
    """``(borrower_id, value)`` of ``topic``'s committed records keyed by a borrower_id of
    ``where``, reading only the partitions ``where`` names."""
    for msg in read_from_start(
        conf,
        topic,
        "creditstream-report",
        missing=MISSING,
        idle_timeout=timeout,
        only=set(where.values()),
    ):
        key = (msg.key() or b"").decode(errors="replace")
        if key in where:
            yield key, msg.value()


def committed_entries(
    conf: KafkaConf, where: dict[str, int], timeout: float
) -> dict[str, BorrowerEntry]:
    """The latest committed state record per borrower_id of ``where`` (a tombstone or
    nothing: absent)."""
    latest: dict[str, bytes | None] = {}
    for key, value in _records_of(conf, topics.BORROWER_STATE, where, timeout):
        latest[key] = value
    return {b: borrower_entry_from_bytes(v) for b, v in latest.items() if v is not None}


def _deliveries(
    conf: KafkaConf, codec: SniffingCodec, where: dict[str, int], timeout: float
) -> tuple[list[dict[str, object]], list[str]]:
    """The audit records of these borrower_ids, and what is wrong with the chains of the
    partitions holding them (empty: verified)."""
    chains: dict[int, ChainVerifier] = {}
    found: list[dict[str, object]] = []
    for entry in read_audit(conf, codec=codec, idle_timeout=timeout, only=set(where.values())):
        chain = chains.get(entry.partition)
        if chain is None:
            start = GENESIS if entry.offset == 0 else None
            chain = chains[entry.partition] = ChainVerifier(start)
        chain.add(entry.offset, entry.datum)
        if entry.datum is not None and entry.datum.get("borrower_id") in where:
            found.append(entry.datum)
    problems = [str(p) for c in chains.values() for p in c.finish()]
    return found, problems


def _year_start_ms(now_ms: int) -> int:
    year = datetime.fromtimestamp(now_ms / 1000, UTC).year
    return int(datetime(year, 1, 1, tzinfo=UTC).timestamp() * 1000)


def _reports_this_year(
    conf: KafkaConf, codec: SniffingCodec, where: dict[str, int], now_ms: int, timeout: float
) -> int:
    since = _year_start_ms(now_ms)
    n = 0
    for _key, value in _records_of(conf, topics.REPORTS, where, timeout):
        _, datum = codec.decode(value or b"", {REPORT_ISSUED})
        n += to_epoch_ms(datum["issued_at"]) >= since
    return n


def _record(
    conf: KafkaConf, codec: SniffingCodec, borrower_id: str, now: int, channel: str
) -> None:
    """Append this report to exchange.reports (acks=all, idempotent)."""
    producer = Producer(conf | {"enable.idempotence": True, "partitioner": "murmur2_random"})
    datum = {"borrower_id": borrower_id, "issued_at": now, "channel": channel}
    producer.produce(topics.REPORTS, codec.encode(REPORT_ISSUED, datum), borrower_id.encode())
    if producer.flush(30) != 0:
        raise BrokerError("the report could not be recorded on exchange.reports (broker down?)")

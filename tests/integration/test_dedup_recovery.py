"""Ingress's dedup memory on disk recovers from the changelog's tail, per source.

The worker writes a batch's event_ids to its store only after the batch's transaction
committed; a crash in between leaves the store behind Kafka. Here the changelog records
are written the way the stage writes them (one transaction per batch) and the store
write is left out, as such a crash would: the next recovery must replay exactly those
records of its own sources, skip other sources sharing the changelog partition (another
worker's), and read nothing it already holds.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from confluent_kafka import Producer

from streams import topics
from streams.runtime.state import PartitionStore
from streams.settings import KafkaConf
from streams.stages.ingress.dedup import Dedup, Source, changelog_key, changelog_partition
from streams.stages.ingress.recovery import restore_dedup
from tests.integration.kafka_helpers import create_topics

pytestmark = pytest.mark.integration
PARTITIONS = 4
SRC: Source = ("ingest.acme.loans", 0)
NOW = 1_000
EXPIRY = b"99999999999999"


def _other_source_in_the_same_partition() -> Source:
    want = changelog_partition(SRC, PARTITIONS)
    for p in range(1, 1000):
        source = ("ingest.other.loans", p)
        if changelog_partition(source, PARTITIONS) == want:
            return source
    raise AssertionError("no source shares the partition")


def _commit(conf: KafkaConf, records: list[tuple[Source, str]]) -> None:
    """One transaction of dedup changelog records, as the ingress stage writes them."""
    producer = Producer(conf | {"transactional.id": f"dedup-test-{uuid.uuid4().hex[:8]}"})
    producer.init_transactions(30)
    producer.begin_transaction()
    for source, event_id in records:
        producer.produce(
            topics.INGRESS_DEDUP,
            EXPIRY,
            changelog_key(source, event_id),
            partition=changelog_partition(source, PARTITIONS),
        )
    producer.commit_transaction(30)


def _dedup(state: Path) -> Dedup:
    return Dedup(10**9, PARTITIONS, lambda c: PartitionStore.open(state / str(c)))


def _restore(conf: KafkaConf, dedup: Dedup, sources: set[Source]) -> int:
    return restore_dedup(conf, "test", dedup, sources, NOW, open_txn_wait_s=30)


def test_a_store_behind_kafka_replays_only_its_sources_tail(
    private_bootstrap: str, tmp_path: Path
) -> None:
    conf = {"bootstrap.servers": private_bootstrap}
    create_topics(conf, [topics.INGRESS_DEDUP], PARTITIONS)
    other = _other_source_in_the_same_partition()
    _commit(conf, [(SRC, "a1"), (SRC, "a2"), (other, "o1")])

    first = _dedup(tmp_path)
    assert _restore(conf, first, {SRC}) == 2  # a fresh store: all of SRC, none of other's
    assert first.seen(SRC, "a1", NOW) and not first.seen(other, "o1", NOW)
    first.close()

    # Committed to Kafka, never written to the store: the worker died in between.
    _commit(conf, [(SRC, "b1"), (other, "o2"), (SRC, "b2")])
    again = _dedup(tmp_path)
    assert not again.seen(SRC, "b1", NOW)  # the store is behind ...
    assert _restore(conf, again, {SRC}) == 2  # ... and the tail repairs it
    assert all(again.seen(SRC, e, NOW) for e in ("a1", "a2", "b1", "b2"))
    assert _restore(conf, again, {SRC}) == 0  # caught up: nothing to read again
    # The other worker's source, assigned here now, comes back whole from the changelog.
    assert _restore(conf, again, {SRC, other}) == 2
    assert again.seen(other, "o1", NOW) and again.seen(other, "o2", NOW)
    again.close()

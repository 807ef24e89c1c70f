"""The borrower stage's stores on disk recover from the changelog's tail.

The stage writes a batch's state records to its store only after the batch's
transaction committed; a worker killed in between leaves the store behind Kafka. Here
the state records are the stage's own (a pure batch's output), written to
``exchange.borrower-state`` one transaction per batch as the stage writes them, and the
store write of the second batch is left out, as such a crash would: the next recovery
must replay exactly that batch, tombstones included, and index the expiries it brings
(so the prune timer finds them without a scan).
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from confluent_kafka import Producer

from streams import topics
from streams.runtime.state import PartitionStore
from streams.settings import KafkaConf
from streams.stages.borrower.recovery import restore
from streams.stages.borrower.store import BorrowerStore
from tests.integration.kafka_helpers import create_topics
from tests.unit.profile_factories import BORROWER
from tests.unit.test_borrower_batch import NOW, loan, req, run

pytestmark = pytest.mark.integration


def _records() -> tuple[bytes, bytes]:
    """A subscribed borrower's state record (expiring at NOW + 1000) and an unsubscribed
    one's, as the stage encodes them."""
    subscribed = run(BorrowerStore(10), [req("a", "ra", expires=NOW + 1000)], [loan(1)])
    plain = run(BorrowerStore(10), ops=[loan(1)])
    a, b = subscribed.states[BORROWER][1], plain.states[BORROWER][1]
    assert a is not None and b is not None
    return a, b


def _commit(conf: KafkaConf, records: dict[str, bytes | None]) -> None:
    """One transaction of state records on partition 0, as the stage writes a batch."""
    producer = Producer(conf | {"transactional.id": f"borrower-test-{uuid.uuid4().hex[:8]}"})
    producer.init_transactions(30)
    producer.begin_transaction()
    for key, value in records.items():
        producer.produce(topics.BORROWER_STATE, value, key.encode(), partition=0)
    producer.commit_transaction(30)


def _store(root: Path) -> BorrowerStore:
    store = BorrowerStore(10, lambda p: PartitionStore.open(root / str(p)))
    store.assign([0])
    return store


def _restore(conf: KafkaConf, store: BorrowerStore) -> int:
    return restore(conf, "test", [0], store, lambda *_: None, open_txn_wait_s=30)


def test_a_store_behind_kafka_replays_only_the_tail_and_indexes_it(
    private_bootstrap: str, tmp_path: Path
) -> None:
    conf = {"bootstrap.servers": private_bootstrap}
    create_topics(conf, [topics.BORROWER_STATE], 1)
    subscribed, plain = _records()
    _commit(conf, {"b0": subscribed, "b1": plain, "b2": subscribed})

    first = _store(tmp_path)
    assert _restore(conf, first) == 3  # a fresh store: everything
    assert first.due(NOW + 1000) == [(0, "b0"), (0, "b2")]
    first.close()

    # Committed to Kafka, never written to the store: the worker died in between.
    _commit(conf, {"b3": subscribed, "b0": None, "b1": subscribed})
    again = _store(tmp_path)
    assert again.committed(0, "b3") is None  # the store is behind ...
    assert _restore(conf, again) == 3  # ... and only the tail repairs it
    assert again.committed(0, "b3") == subscribed and again.committed(0, "b0") is None
    assert again.committed(0, "b1") == subscribed
    # The tail's expiries are indexed (b1, b3); b0's key went stale with its tombstone.
    assert again.due(NOW + 1000) == [(0, "b1"), (0, "b2"), (0, "b3")]
    assert _restore(conf, again) == 0  # caught up: nothing to read again
    again.close()

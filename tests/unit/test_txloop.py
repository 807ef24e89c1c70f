"""The batch-transaction mechanics every stage shares, with a recording fake client."""

from __future__ import annotations

from typing import Any

import pytest
from confluent_kafka import TopicPartition

from streams.runtime.txloop import batch_transaction, fetch_batch, next_offsets


class FakeMessage:
    def __init__(self, topic: str, partition: int, offset: int) -> None:
        self._t, self._p, self._o = topic, partition, offset

    def topic(self) -> str:
        return self._t

    def partition(self) -> int:
        return self._p

    def offset(self) -> int:
        return self._o


class Recorder:
    """Stands in for both the consumer and the producer; records the calls in order."""

    def __init__(self, fail_commit: bool = False) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.fail_commit = fail_commit

    def begin_transaction(self) -> None:
        self.calls.append(("begin", None))

    def send_offsets_to_transaction(
        self, offsets: list[TopicPartition], meta: Any, t: float
    ) -> None:
        self.calls.append(("offsets", sorted((o.topic, o.partition, o.offset) for o in offsets)))

    def commit_transaction(self, t: float) -> None:
        if self.fail_commit:
            raise RuntimeError("fenced")
        self.calls.append(("commit", None))

    def abort_transaction(self, t: float) -> None:
        self.calls.append(("abort", None))

    def consumer_group_metadata(self) -> str:
        return "meta"

    def seek(self, tp: TopicPartition) -> None:
        self.calls.append(("seek", (tp.topic, tp.partition, tp.offset)))


BATCH = [FakeMessage("t", 0, 5), FakeMessage("t", 1, 9), FakeMessage("t", 0, 6)]


def test_commits_the_batch_offsets_after_the_outputs() -> None:
    rec = Recorder()
    with batch_transaction(rec, rec, BATCH):  # type: ignore[arg-type]
        rec.calls.append(("produce", None))
    assert rec.calls == [
        ("begin", None),
        ("produce", None),
        ("offsets", [("t", 0, 7), ("t", 1, 10)]),
        ("commit", None),
    ]
    assert [(o.partition, o.offset) for o in next_offsets(BATCH)] == [(0, 7), (1, 10)]  # type: ignore[arg-type]


@pytest.mark.parametrize("fail_in", ["body", "commit"])
def test_any_failure_forgets_aborts_and_rewinds_to_the_batch_start(fail_in: str) -> None:
    rec = Recorder(fail_commit=fail_in == "commit")
    forgotten: list[bool] = []
    forget = lambda: forgotten.append(True)  # noqa: E731
    with (
        pytest.raises(RuntimeError),
        batch_transaction(rec, rec, BATCH, on_abort=forget),  # type: ignore[arg-type]
    ):
        if fail_in == "body":
            raise RuntimeError("bad batch")
    assert forgotten == [True]
    tail = [c for c in rec.calls if c[0] in {"abort", "seek", "commit"}]
    assert tail == [("abort", None), ("seek", ("t", 0, 5)), ("seek", ("t", 1, 9))]


class QueueConsumer:
    """librdkafka's consume(n, timeout) over a local queue: waits only when it is empty."""

    def __init__(self, queued: int) -> None:
        self.queued = [FakeMessage("t", 0, i) for i in range(queued)]
        self.calls: list[tuple[int, float]] = []

    def consume(self, n: int, timeout: float) -> list[FakeMessage]:
        self.calls.append((n, timeout))
        out, self.queued = self.queued[:n], self.queued[n:]
        return out


@pytest.mark.parametrize(("queued", "got"), [(0, 0), (1, 1), (7, 7), (5000, 2000)])
def test_fetch_batch_waits_for_the_first_record_only(queued: int, got: int) -> None:
    consumer = QueueConsumer(queued)
    batch = fetch_batch(consumer, 2000, 0.2)  # type: ignore[arg-type]
    assert [m.offset() for m in batch] == list(range(got))
    waits = [t for _n, t in consumer.calls if t > 0]
    assert waits == [0.2]  # never waits for a full batch

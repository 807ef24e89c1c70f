"""The commit protocol every stage runs (``streams.runtime.loop``), with recording fakes.

A minimal stage records the protocol's steps; one ``Recorder`` stands in for both the
consumer and the producer and records the client calls in order, so each test reads
as the numbered steps of the loop's docstring.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from confluent_kafka import Message, Producer, TopicPartition

from streams.runtime.clients import fetch_batch, next_offsets
from streams.runtime.loop import StageLoop
from streams.settings import Settings
from tests.waiting import eventually


class FakeMessage:
    def __init__(self, topic: str, partition: int, offset: int) -> None:
        self._t, self._p, self._o = topic, partition, offset

    def topic(self) -> str:
        return self._t

    def partition(self) -> int:
        return self._p

    def offset(self) -> int:
        return self._o

    def error(self) -> None:
        return None


class Recorder:
    """Stands in for both the consumer and the producer; records the calls in order.
    ``fail_commit``: the commit raises (fenced); ``hold``: the commit waits for it."""

    def __init__(self, fail_commit: bool = False, hold: threading.Event | None = None) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.fail_commit = fail_commit
        self.hold = hold

    def begin_transaction(self) -> None:
        self.calls.append(("begin", None))

    def produce(self, topic: str, value: bytes, key: bytes | None = None) -> None:
        self.calls.append(("produce", value))

    def send_offsets_to_transaction(
        self, offsets: list[TopicPartition], meta: Any, t: float
    ) -> None:
        self.calls.append(("offsets", sorted((o.topic, o.partition, o.offset) for o in offsets)))

    def commit_transaction(self, t: float) -> None:
        if self.hold is not None:
            assert self.hold.wait(10)
        if self.fail_commit:
            raise RuntimeError("fenced")
        self.calls.append(("commit", None))

    def abort_transaction(self, t: float) -> None:
        self.calls.append(("abort", None))

    def consumer_group_metadata(self) -> str:
        return "meta"

    def seek(self, tp: TopicPartition) -> None:
        self.calls.append(("seek", (tp.topic, tp.partition, tp.offset)))


class Recording(StageLoop[list[int]]):
    """Stages each batch as its offsets; records steps 2, 5 and 6."""

    name = "recording"

    def __init__(self, client: Recorder, fail_stage: bool = False) -> None:
        super().__init__(Settings(), 100)
        self.steps: list[tuple[str, Any]] = []
        self.fail_stage = fail_stage
        self._consumer = self._producer = client  # type: ignore[assignment]

    def subscription(self) -> list[str]:
        return ["t"]

    def stage(self, batch: list[Message]) -> list[int]:
        if self.fail_stage:
            raise ValueError("bad batch")
        staged = [m.offset() or 0 for m in batch]
        self.steps.append(("staged", staged))
        return staged

    def produce(self, producer: Producer, staged: list[int]) -> None:
        for offset in staged:
            producer.produce("out", str(offset).encode())

    def committed(self, staged: list[int], seconds: float) -> None:
        assert seconds >= 0
        self.steps.append(("committed", staged))

    def forget(self, staged: list[int] | None) -> None:
        self.steps.append(("forgot", staged))


def batch(*offsets: tuple[int, int]) -> list[Message]:
    return [FakeMessage("t", p, o) for p, o in offsets]  # type: ignore[misc]


BATCH = batch((0, 5), (1, 9), (0, 6))


def test_a_batch_is_staged_produced_and_committed_with_its_offsets() -> None:
    rec = Recorder()
    stage = Recording(rec)
    stage._transact(BATCH)
    assert rec.calls == [
        ("begin", None),
        ("produce", b"5"),
        ("produce", b"9"),
        ("produce", b"6"),
        ("offsets", [("t", 0, 7), ("t", 1, 10)]),
        ("commit", None),
    ]
    assert stage.steps == [("staged", [5, 9, 6]), ("committed", [5, 9, 6])]
    assert [(o.partition, o.offset) for o in next_offsets(BATCH)] == [(0, 7), (1, 10)]


@pytest.mark.parametrize("fail_in", ["stage", "commit"])
def test_any_failure_forgets_aborts_and_rewinds_to_the_batch_start(fail_in: str) -> None:
    rec = Recorder(fail_commit=fail_in == "commit")
    stage = Recording(rec, fail_stage=fail_in == "stage")
    with pytest.raises((RuntimeError, ValueError)):
        stage._transact(BATCH)
    forgot = None if fail_in == "stage" else [5, 9, 6]
    assert stage.steps[-1] == ("forgot", forgot)
    assert not any(step == "committed" for step, _ in stage.steps)
    tail = [c for c in rec.calls if c[0] in {"abort", "seek", "commit"}]
    rewind = [("seek", ("t", 0, 5)), ("seek", ("t", 1, 9))]
    # A transaction that never began is not aborted.
    assert tail == (rewind if fail_in == "stage" else [("abort", None), *rewind])


class Pipelined(Recording):
    pipelined = True


def _pipelined(rec: Recorder) -> Pipelined:
    stage = Pipelined(rec)
    stage._committer = ThreadPoolExecutor(1)
    return stage


def test_pipelined_stages_the_next_batch_during_the_commit_and_keeps_transactions_in_order() -> (
    None
):
    hold = threading.Event()
    rec = Recorder(hold=hold)
    stage = _pipelined(rec)
    stage._transact(batch((0, 1)))
    # The first commit is held: the second batch is staged meanwhile ...
    staged_second = threading.Thread(target=stage._transact, args=(batch((0, 2)),))
    staged_second.start()
    eventually(lambda: ("staged", [2]) in stage.steps, what="batch 2 staged", timeout=10)
    assert rec.calls.count(("begin", None)) == 1  # ... but not begun before 1 settles
    hold.set()
    staged_second.join(10)
    stage._settle()
    assert stage.steps == [
        ("staged", [1]),
        ("staged", [2]),
        ("committed", [1]),
        ("committed", [2]),
    ]
    begins_and_commits = [c[0] for c in rec.calls if c[0] in {"begin", "commit"}]
    assert begins_and_commits == ["begin", "commit", "begin", "commit"]


def test_pipelined_commit_failure_undoes_both_batches_and_rewinds_to_the_first() -> None:
    rec = Recorder(fail_commit=True)
    stage = _pipelined(rec)
    stage._transact(batch((0, 1), (1, 4)))
    with pytest.raises(RuntimeError, match="fenced"):
        stage._transact(batch((0, 2), (1, 5)))
    assert ("forgot", [1, 4]) in stage.steps and ("forgot", [2, 5]) in stage.steps
    assert not any(step == "committed" for step, _ in stage.steps)
    seeks = [c[1] for c in rec.calls if c[0] == "seek"]
    assert seeks == [("t", 0, 1), ("t", 1, 4)]
    assert rec.calls.count(("begin", None)) == 1  # the second batch never began


class WatchingConsumer:
    """Records, at each fetch, which batches had been committed by then."""

    def __init__(self, stage: Recording) -> None:
        self.stage = stage
        self.committed_at_fetch: list[list[Any]] = []

    def consume(self, n: int, timeout: float) -> list[FakeMessage]:
        done = [s for step, s in self.stage.steps if step == "committed"]
        self.committed_at_fetch.append(done)
        return []


@pytest.mark.parametrize(("overlap_from", "settled"), [(200, True), (1, False)])
def test_a_light_in_flight_batch_is_settled_before_the_next_fetch(
    overlap_from: int, settled: bool
) -> None:
    hold = threading.Event()
    stage = _pipelined(Recorder(hold=hold))
    stage.overlap_from = overlap_from  # type: ignore[misc]
    stage._transact(batch((0, 1), (1, 4)))  # two records in flight, their commit held
    consumer = WatchingConsumer(stage)
    if not settled:  # a heavy batch overlaps: the fetch runs while it commits
        assert stage._fetch(consumer) == []  # type: ignore[arg-type]
        assert consumer.committed_at_fetch == [[]]
        hold.set()
        stage._settle()
        return
    hold.set()  # a light one: the fetch waits for the commit
    assert stage._fetch(consumer) == []  # type: ignore[arg-type]
    assert consumer.committed_at_fetch == [[[1, 4]]]


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
    fetched = fetch_batch(consumer, 2000, 0.2)  # type: ignore[arg-type]
    assert [m.offset() for m in fetched] == list(range(got))
    waits = [t for _n, t in consumer.calls if t > 0]
    assert waits == [0.2]  # never waits for a full batch


class LingerStage(Recording):
    def __init__(self, linger_ms: int) -> None:
        StageLoop.__init__(self, Settings(stage_batch_linger_ms=linger_ms), 100)
        self.steps = []
        self.fail_stage = False
        self._consumer = self._producer = Recorder()  # type: ignore[assignment]


@pytest.mark.parametrize(
    ("linger_ms", "recent", "waits"), [(0, True, 1), (50, False, 1), (50, True, 2)]
)
def test_a_batch_lingers_only_when_the_last_transaction_began_within_the_linger(
    linger_ms: int, recent: bool, waits: int
) -> None:
    """``stage_batch_linger_ms``: at light load (the last transaction long ago) a batch
    starts at its first record; under load transactions start at most once per linger,
    the batch collecting what arrives meanwhile (never past ``batch_max``)."""
    stage = LingerStage(linger_ms)
    if recent:
        stage._transact(batch((0, 1)))
    consumer = QueueConsumer(3)
    fetched = stage._fetch(consumer)  # type: ignore[arg-type]
    assert [m.offset() for m in fetched] == [0, 1, 2]
    timed = [(n, t) for n, t in consumer.calls if t > 0]
    assert len(timed) == waits  # the first record's wait, then the linger's
    if waits == 2:
        n, t = timed[1]
        assert n == 100 - 3 and 0 < t <= linger_ms / 1000


class TimedRecorder(Recorder):
    """A commit that takes ``seconds`` of wall time."""

    def __init__(self, seconds: float, fail_commit: bool = False) -> None:
        super().__init__(fail_commit=fail_commit)
        self.seconds = seconds

    def commit_transaction(self, t: float) -> None:
        threading.Event().wait(self.seconds)  # the broker's round trip, not a sync point
        super().commit_transaction(t)


@pytest.mark.parametrize("pipelined", [False, True])
def test_on_commit_gets_each_committed_transactions_commit_time(pipelined: bool) -> None:
    """``on_commit`` (the ``creditstream_stage_commit_seconds`` histogram) is called once
    per committed transaction with step 4's time, which excludes staging."""
    rec = TimedRecorder(0.05)
    stage = _pipelined(rec) if pipelined else Recording(rec)
    seen: list[float] = []
    stage.on_commit = seen.append
    stage._transact(batch((0, 1)))
    stage._transact(batch((0, 2)))
    stage._settle()
    assert len(seen) == 2 and all(0.05 <= s < 5 for s in seen)
    assert [s for s, _ in stage.steps if s == "committed"] == ["committed"] * 2


def test_on_commit_is_not_called_for_a_failed_commit() -> None:
    stage = Recording(TimedRecorder(0.0, fail_commit=True))
    seen: list[float] = []
    stage.on_commit = seen.append
    with pytest.raises(RuntimeError, match="fenced"):
        stage._transact(batch((0, 1)))
    assert seen == []

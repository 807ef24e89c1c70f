"""Building blocks of the exchange's exactly-once stages (confluent-kafka, no Faust).

Each stage consumes a batch, produces its outputs, its state changelog and its
consumer offsets in ONE Kafka transaction (KIP-447), and on failure aborts, forgets
what it staged and rewinds to the batch's first offsets. These helpers hold that
shared mechanics so every stage does it the same way:

* ``transactional_producer`` / ``stage_consumer``: client settings every stage needs;
* ``next_offsets`` / ``rewind``: the offsets a batch commits, and the undo;
* ``replay_changelog``: read compacted changelog partitions from the start to their
  end (recovery after a rebalance or restart);
* ``install_threaded_stage``: run a blocking stage loop as a thread owned by the Faust
  worker, crashing the worker if the loop dies.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol

import faust
from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)
from mode import Service

from streams.config import KafkaConf

log = logging.getLogger(__name__)


def transactional_producer(conf: KafkaConf, group: str, **extra: str | int) -> Producer:
    """An idempotent, transactional producer with a per-process transactional.id.

    A fresh id per process is safe because fencing of zombies comes from the consumer
    group generation checked in ``send_offsets_to_transaction`` (KIP-447).
    """
    producer = Producer(
        conf
        | {
            "transactional.id": f"{group}-{uuid.uuid4().hex[:12]}",
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 5,
            "compression.type": "lz4",
            "partitioner": "murmur2_random",  # the partitions Java and Faust clients pick
        }
        | extra
    )
    producer.init_transactions(30)
    return producer


def stage_consumer(conf: KafkaConf, group: str, **extra: str | int) -> Consumer:
    """A consumer that reads only committed data and never commits by itself."""
    return Consumer(
        conf
        | {
            "group.id": group,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed",
            "partition.assignment.strategy": "range",
        }
        | extra
    )


def usable(msg: Message) -> bool:
    """True for a data message; raises on a fatal client error, logs the rest."""
    err = msg.error()
    if err is None:
        return True
    if err.fatal():
        raise KafkaException(err)
    log.warning("consumer: %s", err)
    return False


def next_offsets(batch: Iterable[Message]) -> list[TopicPartition]:
    """The offsets to commit after ``batch``: last offset + 1 per partition."""
    last: dict[tuple[str, int], int] = {}
    for m in batch:
        last[(m.topic() or "", m.partition() or 0)] = (m.offset() or 0) + 1
    return [TopicPartition(t, p, o) for (t, p), o in last.items()]


def rewind(consumer: Consumer, batch: Iterable[Message]) -> None:
    """Seek back to the first offset of ``batch`` in each partition, to redo it."""
    first: dict[tuple[str, int], int] = {}
    for m in batch:
        first.setdefault((m.topic() or "", m.partition() or 0), m.offset() or 0)
    for (topic, partition), offset in first.items():
        try:
            consumer.seek(TopicPartition(topic, partition, offset))
        except KafkaException as exc:  # revoked meanwhile: the new owner re-reads it
            log.warning("rewind of %s[%d] failed: %s", topic, partition, exc)


def abort(producer: Producer) -> None:
    """Abort the open transaction; a failed abort is logged (the next init fences it)."""
    try:
        producer.abort_transaction(30)
    except KafkaException as exc:
        log.error("abort_transaction failed: %s", exc)


@contextmanager
def batch_transaction(
    consumer: Consumer,
    producer: Producer,
    batch: list[Message],
    *,
    offsets: list[TopicPartition] | None = None,
    on_abort: Callable[[], None] | None = None,
) -> Iterator[None]:
    """One transaction for ``batch``: produce inside the ``with`` block; on leaving it
    the batch's offsets (``offsets``, default ``next_offsets(batch)``) are sent and the
    transaction commits. Any error inside or at commit calls ``on_abort`` (the stage
    forgets what it staged), aborts, rewinds the consumer to the batch and re-raises."""
    producer.begin_transaction()
    try:
        yield
        producer.send_offsets_to_transaction(
            offsets if offsets is not None else next_offsets(batch),
            consumer.consumer_group_metadata(),
            30,
        )
        producer.commit_transaction(30)
    except BaseException:
        if on_abort is not None:
            on_abort()
        abort(producer)
        rewind(consumer, batch)
        raise


def replay_changelog(
    conf: KafkaConf,
    topic: str,
    partitions: Iterable[int],
    on_record: Callable[[bytes, bytes | None], None],
    batch: int = 10_000,
    group_prefix: str = "creditstream",
) -> int:
    """Read ``partitions`` of ``topic`` from the start to their current end (committed
    data only), calling ``on_record(key, value)`` for each; returns the count."""
    reader = Consumer(
        conf
        | {
            # Never joins or commits (assign only), but stays inside the exchange's prefix.
            "group.id": f"{group_prefix}-replay-{uuid.uuid4().hex[:8]}",
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
        for p in set(partitions):
            low, high = reader.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            if high > low:
                ends[p] = high
        reader.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in ends])
        while ends:
            for msg in reader.consume(batch, timeout=1.0):
                err, part = msg.error(), msg.partition() or 0
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        ends.pop(part, None)
                    continue
                on_record(msg.key() or b"", msg.value())
                count += 1
                # Transaction markers occupy offsets too: stop at the end, not at EOF only.
                if (msg.offset() or 0) + 1 >= ends.get(part, 0):
                    ends.pop(part, None)
    finally:
        reader.close()
    return count


def report_lag(consumer: Consumer, set_lag: Callable[[str, int, int], None]) -> None:
    """Lag (log end - position) of every assigned partition, from the client's cached
    watermarks (no broker round trip), reported through ``set_lag(topic, part, lag)``."""
    assigned = consumer.assignment()
    if not assigned:
        return
    for tp in consumer.position(assigned):
        try:
            _low, high = consumer.get_watermark_offsets(tp, cached=True)
        except KafkaException:
            continue
        if high >= 0 and tp.offset >= 0:
            set_lag(tp.topic, tp.partition, max(0, high - tp.offset))


class ThreadedStage(Protocol):
    """A blocking stage loop: ``run()`` until ``stop()``; raises on fatal errors."""

    def run(self) -> None: ...

    def stop(self) -> None: ...


class StageService(Service):
    """Runs ``self.stage`` in a thread tied to the worker's lifecycle (see below)."""

    stage: ThreadedStage
    stage_name: str
    app: faust.App

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._thread: threading.Thread | None = None

    async def on_start(self) -> None:
        loop = asyncio.get_running_loop()

        def run() -> None:
            try:
                self.stage.run()
            except BaseException as exc:
                log.exception("%s stopped on a fatal error", self.stage_name)
                asyncio.run_coroutine_threadsafe(self.app.crash(exc), loop)

        self._thread = threading.Thread(target=run, name=self.stage_name, daemon=True)
        self._thread.start()

    async def on_stop(self) -> None:
        self.stage.stop()
        if self._thread is not None:
            await asyncio.get_running_loop().run_in_executor(None, self._thread.join, 30)


def install_threaded_stage(app: faust.App, name: str, stage: ThreadedStage) -> None:
    """Run ``stage`` in a thread started and stopped with ``app``'s worker.

    A fatal error in the loop crashes the worker (it exits non-zero) rather than
    leaving a worker that looks alive but does nothing. Faust instantiates service
    classes itself, so each stage gets a named subclass carrying it.
    """
    attrs = {"stage": stage, "stage_name": name, "app": app, "__module__": __name__}
    app.service(type(f"{name.title()}Service", (StageService,), attrs))

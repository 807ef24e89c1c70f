"""Where a stage starts reading the partitions it is assigned: decided by the stage.

librdkafka, left to find a newly assigned partition's start itself, sends an
OffsetFetch and, for a read_committed consumer, asks for stable offsets (KIP-447): a
partition whose offsets an open transaction is still committing answers
``UNSTABLE_OFFSET_COMMIT`` and is asked again. If the assignment changes while such a
request is in flight (an eager rebalance: revoke all, assign again), the late answer
is applied to the new assignment with the partition's offset left unset, and an unset
offset means ``auto.offset.reset``: the partition is read again **from the start**
(``rd_kafka_assignment_apply_offsets``, librdkafka 2.x). A chaos run caught it: after
a broker restart left a transaction open, a stage held in recovery for half a minute,
then rebalanced, re-read an ingest partition from offset 0 and refused every event of
it as ``DUPLICATE_EVENT``.

So a stage never assigns a partition without its start. :func:`committed_starts`
asks the group's committed offsets with its own short-lived client (never a member of
the group, so it takes no part in rebalances and is safe to call from the rebalance
callback), waits while a transaction holds them (the same wait the changelog replay
makes, ended by a stop request), and returns each partition at its committed offset,
or at the beginning when the group never committed one (a new partition or tenant).
"""

from __future__ import annotations

import logging
import threading
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition

from streams.errors import BrokerError
from streams.settings import KafkaConf

log = logging.getLogger(__name__)
#: Seconds per committed-offset request; librdkafka retries unstable offsets inside it.
ASK_S = 10.0
#: Seconds between two requests.
RETRY_S = 0.2


class StartsStoppedError(BrokerError):
    """The stage was asked to stop while its start offsets were held by a transaction."""


def committed_starts(
    conf: KafkaConf,
    group: str,
    partitions: list[TopicPartition],
    stopping: threading.Event | None = None,
    ask_s: float = ASK_S,
) -> list[TopicPartition]:
    """``partitions`` at the offsets ``group`` committed (``OFFSET_BEGINNING`` where it
    committed none), read stably: a transaction still committing offsets of one of them
    is waited for (a warning line every ``ask_s``). Raises ``BrokerError`` on any other
    error."""
    if not partitions:
        return []
    reader = Consumer(
        conf
        | {
            "group.id": group,
            "enable.auto.commit": False,
            # read_committed makes committed() ask for stable offsets (KIP-447).
            "isolation.level": "read_committed",
        }
    )
    asked = [TopicPartition(tp.topic, tp.partition) for tp in partitions]
    began = time.monotonic()
    warned = began - ask_s  # the first failed ask is said at once, then every ask_s
    try:
        while True:
            try:
                found = reader.committed(asked, timeout=ask_s)
            except KafkaException as exc:
                if not _passing(exc.args[0]):
                    raise BrokerError(f"committed offsets of {group}: {exc}") from exc
                why = str(exc)
            else:
                held = [tp for tp in found if tp.error is not None]
                if not held:
                    return [_start(tp) for tp in found]
                for tp in held:
                    if not _passing(tp.error):
                        raise BrokerError(
                            f"committed offset of {tp.topic}[{tp.partition}]: {tp.error}"
                        )
                why = ", ".join(f"{tp.topic}[{tp.partition}]: {tp.error}" for tp in held[:5])
            now = time.monotonic()
            if now - warned >= ask_s:
                warned = now
                log.warning(
                    "%s: committed offsets not readable after %.0f s (%s); asking again",
                    group,
                    now - began,
                    why,
                )
            # An answer that comes back at once must not make this a busy loop.
            if stopping is not None and stopping.wait(RETRY_S):
                raise StartsStoppedError(f"committed offsets of {group}: stopping")
            if stopping is None:
                time.sleep(RETRY_S)
    finally:
        reader.close()


def _passing(error: object) -> bool:
    """True for an error that goes away by itself: a transaction still committing the
    offsets, the coordinator moving or loading, a timeout."""
    if not isinstance(error, KafkaError):
        return False
    return error.retriable() or error.code() in _PASSING


_PASSING = {
    KafkaError._TIMED_OUT,
    KafkaError._TRANSPORT,
    KafkaError._WAIT_COORD,
    KafkaError.UNSTABLE_OFFSET_COMMIT,
    KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
    KafkaError.COORDINATOR_NOT_AVAILABLE,
    KafkaError.NOT_COORDINATOR,
}


def _start(tp: TopicPartition) -> TopicPartition:
    offset = tp.offset if tp.offset >= 0 else OFFSET_BEGINNING
    return TopicPartition(tp.topic, tp.partition, offset)

"""The borrower stage's state changelog writes, and the offsets its stores reach.

A partition store (``streams.runtime.state``) is written after the batch's transaction
commits, with the offset of the partition's last state record in that batch, so that
recovery replays exactly the records after it: :func:`produce_states` asks for a
delivery report on each partition's last record, :func:`reached_offsets` serves them
after the commit (``streams.runtime.reports``).
"""

from __future__ import annotations

from collections.abc import Mapping

from confluent_kafka import KafkaError, Message, Producer

from streams import topics
from streams.runtime.reports import wait_reports

#: borrower_id -> (partition, state record or None, earliest expiry or None)
States = Mapping[str, tuple[int, bytes | None, int | None]]


def produce_states(producer: Producer, states: States, reached: dict[int, int]) -> None:
    """Produce ``states`` to ``exchange.borrower-state``; each partition's last record
    records its offset in ``reached`` when delivered."""
    last = {p: bid for bid, (p, _record, _expires) in states.items()}

    def delivered(err: KafkaError | None, msg: Message) -> None:
        if err is None:
            reached[msg.partition() or 0] = msg.offset() or 0

    topic, produce = topics.BORROWER_STATE, producer.produce
    for bid, (p, record, _expires) in states.items():
        if last[p] == bid:
            produce(topic, record, bid.encode(), partition=p, on_delivery=delivered)
        else:
            produce(topic, record, bid.encode(), partition=p)


def reached_offsets(
    producer: Producer | None, states: States, reached: dict[int, int]
) -> dict[int, int]:
    """``reached`` once it holds every partition of ``states`` (after the commit)."""
    wanted = {p for p, _record, _expires in states.values()}
    return wait_reports(producer, wanted, reached, "state partitions")

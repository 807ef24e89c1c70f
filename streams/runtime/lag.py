"""Consumer lag of a stage's assigned partitions, for Prometheus.

:class:`LagReporter` is a stage's tick hook: it reports ``log end - position`` of every
partition the consumer holds now, from the client's cached watermarks (no broker round
trip), and removes the series of partitions it reported before but no longer holds. A
revoked partition's last value would otherwise stay exported forever, and a summed-lag
alert would count it on two workers after a rebalance.
"""

from __future__ import annotations

from collections.abc import Callable

from confluent_kafka import Consumer, KafkaException

#: ``set_lag(topic, partition, lag)`` and ``forget(topic, partition)``.
SetLag = Callable[[str, int, int], None]
Forget = Callable[[str, int], None]


class LagReporter:
    """Call it with the stage's consumer on every tick (one reporter per stage)."""

    def __init__(self, set_lag: SetLag, forget: Forget) -> None:
        self._set_lag = set_lag
        self._forget = forget
        self._reported: set[tuple[str, int]] = set()

    def __call__(self, consumer: Consumer) -> None:
        assigned = consumer.assignment()
        held = {(tp.topic, tp.partition) for tp in assigned}
        for topic, partition in sorted(self._reported - held):
            self._forget(topic, partition)
        self._reported &= held
        if not assigned:
            return
        for tp in consumer.position(assigned):
            try:
                _low, high = consumer.get_watermark_offsets(tp, cached=True)
            except KafkaException:
                continue
            if high >= 0 and tp.offset >= 0:
                self._set_lag(tp.topic, tp.partition, max(0, high - tp.offset))
                self._reported.add((tp.topic, tp.partition))

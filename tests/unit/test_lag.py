"""Consumer lag series follow the assignment: a revoked partition's series goes."""

from __future__ import annotations

from confluent_kafka import TopicPartition
from prometheus_client import CollectorRegistry

from streams.runtime.lag import LagReporter
from streams.runtime.metrics import Metrics


class Consumer:
    """What the reporter reads: assignment, positions, cached watermarks."""

    def __init__(self, held: list[tuple[str, int]], position: int = 60, end: int = 100) -> None:
        self.held, self.at, self.end = held, position, end

    def assignment(self) -> list[TopicPartition]:
        return [TopicPartition(t, p) for t, p in self.held]

    def position(self, tps: list[TopicPartition]) -> list[TopicPartition]:
        return [TopicPartition(tp.topic, tp.partition, self.at) for tp in tps]

    def get_watermark_offsets(self, tp: TopicPartition, cached: bool = False) -> tuple[int, int]:
        assert cached, "the reporter must not ask the broker on every tick"
        return 0, self.end


def series(metrics: Metrics) -> dict[tuple[str, str], float]:
    return {
        (s.labels["topic"], s.labels["partition"]): s.value
        for family in metrics.registry.collect()
        if family.name == "creditstream_consumer_lag_records"
        for s in family.samples
    }


def test_lag_is_reported_for_held_partitions_and_forgotten_when_revoked() -> None:
    metrics = Metrics(CollectorRegistry())
    report = LagReporter(metrics.set_lag, metrics.forget_partition)
    report(Consumer([("exchange.events", 0), ("exchange.events", 1)]))  # type: ignore[arg-type]
    assert series(metrics) == {("exchange.events", "0"): 40, ("exchange.events", "1"): 40}
    report(Consumer([("exchange.events", 1)], position=90))  # type: ignore[arg-type]
    assert series(metrics) == {("exchange.events", "1"): 10}
    report(Consumer([]))  # type: ignore[arg-type]
    assert series(metrics) == {}


def test_a_partition_without_a_known_position_is_not_reported() -> None:
    metrics = Metrics(CollectorRegistry())
    report = LagReporter(metrics.set_lag, metrics.forget_partition)
    report(Consumer([("exchange.events", 0)], position=-1001))  # type: ignore[arg-type]
    assert series(metrics) == {}

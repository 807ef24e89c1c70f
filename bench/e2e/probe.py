"""Where every stage of the worker is: committed offsets against their inputs' ends.

``Probe`` knows the three stage groups (ingress, consents, borrower) and their input
topics; ``behind`` says "" once each has committed everything upstream has written
(read upstream first, so a downstream end is final when it is read), else who lags.
``wait_drained`` polls it (and the workers' liveness) until that holds twice in a row: the
end of every timed phase.
"""

from __future__ import annotations

import time
from concurrent.futures import TimeoutError as FutureTimeout

from confluent_kafka import Consumer, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec

from bench.e2e.data import ingest_topics
from bench.e2e.worker import APP_ID, BenchError, Worker
from streams import topics
from streams.settings import KafkaConf


class Probe:
    """Committed offsets of the worker's stage groups against their inputs' ends."""

    def __init__(
        self,
        bootstrap: str,
        partitions: int,
        platforms: list[str],
        banks: list[str],
        bank_partitions: int | None = None,
    ):
        conf: KafkaConf = {"bootstrap.servers": bootstrap}
        self.bootstrap = bootstrap
        self.admin = AdminClient(conf)
        self.partitions = partitions
        # The banks' topics may have a count of their own (any count works for a tenant).
        self.counts = {
            t: bank_partitions or partitions
            for b in banks
            for t in (topics.subscriptions(b), topics.feed(b))
        }
        # (stage, its input topics, written by a transactional producer?)
        self.stages: list[tuple[str, list[str], bool]] = [
            ("ingress", ingest_topics(platforms), False),
            ("consents", [topics.subscriptions(b) for b in banks], False),
            # Both written by a stage's transactions (ingress, consents).
            ("borrower", [topics.EXCHANGE_EVENTS, topics.CONSENTS], True),
        ]
        self.feeds = [topics.feed(b) for b in banks]
        # One idle consumer per stage group reads its committed offsets (it never
        # subscribes, so it never joins the group). Not AdminClient's
        # list_consumer_group_offsets: librdkafka 2.x can crash on its NOT_COORDINATOR
        # path (confluentinc/librdkafka#5040; it did here, on a fresh broker).
        self.readers = {
            stage: Consumer(conf | {"group.id": f"{APP_ID}-{stage}", "enable.auto.commit": False})
            for stage, _, _ in self.stages
        }

    def close(self) -> None:
        for reader in self.readers.values():
            reader.close()

    def _tps(self, names: list[str]) -> list[TopicPartition]:
        return [
            TopicPartition(t, p) for t in names for p in range(self.counts.get(t, self.partitions))
        ]

    def ends(self, names: list[str]) -> dict[tuple[str, int], int]:
        request = {tp: OffsetSpec.latest() for tp in self._tps(names)}
        futures = self.admin.list_offsets(request, request_timeout=10)
        return {(tp.topic, tp.partition): f.result(15).offset for tp, f in futures.items()}

    def committed(self, stage: str, names: list[str]) -> dict[tuple[str, int], int]:
        found = self.readers[stage].committed(self._tps(names), timeout=10)
        return {(tp.topic, tp.partition): tp.offset for tp in found}

    def behind(self) -> str:
        """ "" when every stage has committed everything upstream has written, else who
        lags. Upstream first, so a downstream topic's end is final when it is read. A
        transactional input ends with a commit marker, which nobody commits past."""
        for stage, names, transactional in self.stages:
            try:
                done, ends = self.committed(stage, names), self.ends(names)
            except (KafkaException, FutureTimeout) as exc:  # e.g. a coordinator loading
                return f"{stage}: {exc!r}"
            lag = 0
            for tp, end in ends.items():
                if end > 0 and done.get(tp, -1) < end - (1 if transactional else 0):
                    lag += end - max(done.get(tp, 0), 0)
            if lag:
                return f"{stage}: {lag} records behind"
        return ""


def wait_drained(probe: Probe, workers: list[Worker], timeout: float, what: str) -> float:
    """Wait until every stage is through (seen twice in a row, 0.25 s apart); returns
    the monotonic time it was first seen."""
    deadline = time.monotonic() + timeout
    first: float | None = None
    why = ""
    while time.monotonic() < deadline:
        now = time.monotonic()
        for w in workers:
            w.check_alive()
        why = probe.behind()
        if not why:
            if first is not None:
                return first
            first = now
        else:
            first = None
        time.sleep(0.25)
    tails = "\n".join(f"--- {w.name}\n{w.log_tail(15)}" for w in workers)
    raise BenchError(f"{what}: not through after {timeout:.0f}s ({why})\n{tails}")

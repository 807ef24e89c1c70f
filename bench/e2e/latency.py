"""The latency phase: paced load against a caught-up worker, event-to-feed latency.

``run_latency`` publishes live records at a share of the measured wall rate (``paced``)
while a ``Watcher`` (a read_committed consumer, like a bank's) collects what appears on
exchange.events, exchange.profile-updates and every bank feed, with its arrival time and
Kafka timestamp. Decoding waits until the phase is over (``latencies``): per point of the
path, (ingested_at, ms since) pairs, where ingested_at is the platform record's Kafka
timestamp. The row has p50/p95/p99/max of the bank seeing the feed record, the same
split ``by_stage_ms``, and ``p50_ms_by_third`` (growing = the worker fell behind).

The path has two hops: ingress (exchange.events), then the borrower stage, which folds
the event and delivers it to the feeds in one transaction. ``borrower`` is the feed
record's ``produced_at`` (the clock the batch was staged with); the batch's
exchange.profile-updates record is in that same transaction, produced once the batch
is staged and the previous batch's commit has settled, so ``profile_updates`` minus
``borrower`` is how long a staged batch waited to be produced, not another hop.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from itertools import islice
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from bench.common import percentile, process_cpu_seconds
from bench.e2e.data import Rec
from bench.e2e.probe import Probe, wait_drained
from bench.e2e.worker import Worker, commits, merged_metrics
from streams import topics
from streams.domain.validation import to_epoch_ms
from streams.runtime.registry import codec_for
from streams.sdk.producer import PlatformProducer
from streams.wire.schemas import EXCHANGE_EVENT, FEED_RECORD, PROFILE_UPDATE


class Watcher(threading.Thread):
    """A read_committed consumer of ``ends``' partitions from those offsets on, keeping
    every record's topic, arrival time, Kafka timestamp (its producer's send time) and
    bytes; decoding waits until the phase is over, so it competes with nothing."""

    def __init__(self, bootstrap: str, ends: dict[tuple[str, int], int]) -> None:
        super().__init__(daemon=True)
        self.consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": f"bench-watch-{uuid.uuid4().hex[:8]}",
                "enable.auto.commit": False,
                "isolation.level": "read_committed",
                "fetch.wait.max.ms": 10,
            }
        )
        self.consumer.assign([TopicPartition(t, p, max(0, o)) for (t, p), o in ends.items()])
        self.got: list[tuple[str, float, int, bytes]] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            # Return as soon as one record is there (consume(n, t) alone waits for n or
            # t: up to 50 ms of the watcher's own counted as the exchange's latency).
            msgs = self.consumer.consume(1, timeout=0.05)
            if msgs:
                msgs += self.consumer.consume(999, timeout=0)
            now = time.time()
            self.got += [
                (m.topic() or "", now, m.timestamp()[1], m.value() or b"")
                for m in msgs
                if m.error() is None
            ]
        self.consumer.close()


def paced(prods: dict[str, PlatformProducer], records: list[Rec], rate: float) -> tuple[int, float]:
    """Publish ``records`` at ``rate`` records/s; returns (sent, seconds taken)."""
    began = time.monotonic()
    sent = 0
    while sent < len(records):
        due = min(len(records), int(rate * (time.monotonic() - began)))
        for platform, kind, key, value in records[sent:due]:
            prods[platform].send_raw(kind, key, value)  # type: ignore[arg-type]
        sent = max(sent, due)
        time.sleep(0.002)
    for prod in prods.values():
        prod.flush()
    return sent, time.monotonic() - began


def run_latency(
    workers: list[Worker],
    probe: Probe,
    prods: dict[str, PlatformProducer],
    live: Iterator[Rec],
    bootstrap: str,
    share: float,
    max_rate: float,
    seconds: float,
    broker_pid: int,
) -> dict[str, Any]:
    """Publish ``share`` x ``max_rate`` records/s for ``seconds`` to the caught-up
    ``workers`` (one worker's processes), wait until they are through, and return
    the phase's latency row."""
    rate = share * max_rate
    # Generated before the clock starts: the simulator must not compete with the worker.
    records = list(islice(live, round(rate * seconds)))
    if len(records) < round(rate * seconds):
        print(f"  (only {len(records)} live records left: a shorter phase)", flush=True)
    watched = [topics.EXCHANGE_EVENTS, topics.PROFILE_UPDATES, *probe.feeds]
    watcher = Watcher(bootstrap, probe.ends(watched))
    watcher.start()
    cpu0, t0 = sum(w.cpu() for w in workers), time.monotonic()
    broker0, self0 = process_cpu_seconds(broker_pid), time.process_time()
    metrics0 = merged_metrics(workers)
    try:
        sent, took = paced(prods, records, rate)
        published = time.monotonic()
        drained = wait_drained(probe, workers, 120 + seconds, f"latency at {share:.0%}")
        cpu, wall = sum(w.cpu() for w in workers) - cpu0, time.monotonic() - t0
        broker = process_cpu_seconds(broker_pid) - broker0
        bench = time.process_time() - self0
        transactions = commits(metrics0, merged_metrics(workers), wall)
        time.sleep(0.5)  # the last committed records reach the watcher
    finally:
        watcher.stopping.set()
        watcher.join(10)
    lat = latencies(watcher.got)
    seen = [v for _, v in lat["visible"]]
    row: dict[str, Any] = {
        "stage": "end_to_end",
        "workers": 1,
        "load_share": share,
        "target_events_per_s": round(rate),
        "sent_events_per_s": round(sent / took),
        "events": sent,
        "seconds": round(took, 1),
        "latency_samples": len(seen),
        "worker_cores_used": round(cpu / wall, 2),
        # What else used the 2 cores meanwhile: the broker, and this process (the paced
        # platforms' producers and the watcher, which reads every output record).
        "broker_cores_used": round(broker / wall, 2),
        "bench_cores_used": round(bench / wall, 2),
        "drain_after_publish_s": round(drained - published, 2),
        "transactions": transactions,
        "events_per_s_per_core": None,
    }
    for q in (50, 95, 99):
        row[f"p{q}_ms"] = round(percentile(seen, q / 100), 1) if seen else None
    row["max_ms"] = round(max(seen), 1) if seen else None
    row["by_stage_ms"] = {
        where: {f"p{q}": round(percentile(v, q / 100)) for q in (50, 99)}
        for where, pairs in lat.items()
        if (v := [x for _, x in pairs])
    }
    ordered = sorted(lat["visible"])  # by ingest time: did latency grow during the phase?
    thirds = [ordered[i * len(ordered) // 3 : (i + 1) * len(ordered) // 3] for i in range(3)]
    row["p50_ms_by_third"] = [round(percentile([v for _, v in t], 0.5)) for t in thirds if t]
    row["latency_is"] = (
        "p50/p95/p99/max: a bank's read_committed consumer receiving the feed record - "
        "the platform record's Kafka timestamp (FeedRecord.ingested_at), i.e. from the "
        "platform's send to the bank seeing it. by_stage_ms: the same clock start to "
        "each stage's output being produced (ingress: exchange.events record timestamp; "
        "borrower: FeedRecord.produced_at, the batch staged; profile_updates: the "
        "exchange.profile-updates record timestamp, produced in the same transaction as "
        "the feed record), before that stage's commit; visible = the bank receiving it "
        "(two hops: ingress, then the borrower stage). p50_ms_by_third: "
        "p50 for the first, middle and last third of the phase (growing = falling behind)"
    )
    return row


def latencies(got: list[tuple[str, float, int, bytes]]) -> dict[str, list[tuple[int, float]]]:
    """(ingested_at, ms since) pairs, per point of the path, from watched records."""
    codec = codec_for(None)
    out: dict[str, list[tuple[int, float]]] = {
        "ingress": [],
        "borrower": [],
        "profile_updates": [],
        "visible": [],
    }
    for topic, received, stamp, value in got:
        if topic == topics.EXCHANGE_EVENTS:
            ingested = to_epoch_ms(codec.decode(value, {EXCHANGE_EVENT})[1]["ingested_at"])
            out["ingress"].append((ingested, stamp - ingested))
        elif topic == topics.PROFILE_UPDATES:
            datum = codec.decode(value, {PROFILE_UPDATE})[1]
            ingested = to_epoch_ms(datum["last_ingested_at"])
            out["profile_updates"].append((ingested, stamp - ingested))
        else:
            datum = codec.decode(value, {FEED_RECORD})[1]
            if datum.get("ingested_at") is None:
                continue  # subscription answers carry no event time
            ingested = to_epoch_ms(datum["ingested_at"])
            out["borrower"].append((ingested, to_epoch_ms(datum["produced_at"]) - ingested))
            out["visible"].append((ingested, received * 1000 - ingested))
    return out

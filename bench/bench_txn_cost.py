"""What one transaction costs the broker, by how many partitions it writes.

Usage: ``python -m bench.bench_txn_cost [--seconds 15] [--warmup 30] [--plan 4 32 ...] [--out F]``

A transactional producer commits transactions back to back against a private broker,
each writing one 200-byte record to each of ``P`` partitions of one topic plus consumer
offsets (``send_offsets_to_transaction``), as every stage's batch does; a
read_committed consumer follows the topic, as the next stage or a bank does. After a
warm-up (the JVM's C2 compiler works through the broker's hot paths in it), each entry
of ``--plan`` runs ``--seconds``, alternated so a drift of the machine shows as a
spread. Per entry: transactions per second, the broker's cores and its CPU ms per
transaction (``/proc``), this process's (the clients') CPU ms per transaction, the
commit's median and p99 ms, and the broker's CPU by JVM thread kind; then for broker and
clients a least-squares line ``ms per transaction = a + b * P``.

Why it matters: with ``--partitions 4`` and 4 banks, a borrower-stage transaction under
load writes ~33 partitions (4 each of profiles, profile-updates, audit and the state
changelog, 16 of the feeds, the offsets), an ingress one ~9; the broker writes a commit
marker to each and checks each one's first produce against the coordinator (KIP-890
verification, the ``AddPartitionsToTxnSenderThread``). On a machine whose cores the
broker shares with the worker, that CPU is the worker's latency (bench_end_to_end).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import threading
import time
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from bench.common import (
    calibration_us,
    cpu_by_thread,
    cpu_seconds,
    git_commit,
    percentile,
    private_broker_info,
    process_cpu_seconds,
    write_report,
)

OUT, IN = "bench.txn.out", "bench.txn.in"
OUT_PARTITIONS = 32
#: The stages' transactional producer settings that shape a commit (streams.runtime.clients).
PRODUCER: dict[str, Any] = {
    "linger.ms": 5,
    "acks": "all",
    "enable.idempotence": True,
    "retry.backoff.ms": 1,
    "retry.backoff.max.ms": 50,
}


def jvm_cpu_by_thread(pid: int) -> dict[str, float]:
    """CPU seconds of a JVM's live threads, summed by name with the numbers taken out
    (``data-plane-kafka-request-handler-3`` -> ``data-plane-kafka-request-handler``;
    Linux cuts names at 15 characters)."""
    return cpu_by_thread(pid, lambda name: re.sub(r"\d+", "N", re.sub(r"[-_ #]*\d+$", "", name)))


class Committer:
    """One transactional producer writing ``P`` partitions per transaction."""

    def __init__(self, conf: dict[str, Any], broker_pid: int) -> None:
        self.producer = Producer(conf | PRODUCER | {"transactional.id": "bench-txn-cost"})
        self.producer.init_transactions(30)
        self.group = Consumer(conf | {"group.id": "bench-txn-cost"}).consumer_group_metadata()
        self.pid = broker_pid
        self.offset = 0

    def run(self, partitions: int, seconds: float) -> dict[str, Any]:
        commits: list[float] = []
        cpu0, threads0, t0 = process_cpu_seconds(self.pid), jvm_cpu_by_thread(self.pid), time.time()
        own0 = cpu_seconds()
        while time.time() < t0 + seconds:
            self.producer.begin_transaction()
            for p in range(partitions):
                self.producer.produce(OUT, b"x" * 200, b"k", partition=p)
            self.offset += 1
            began = time.perf_counter()
            self.producer.send_offsets_to_transaction(
                [TopicPartition(IN, 0, self.offset)], self.group, 30
            )
            self.producer.commit_transaction(30)
            commits.append((time.perf_counter() - began) * 1000)
        wall, cpu = time.time() - t0, process_cpu_seconds(self.pid) - cpu0
        own = cpu_seconds() - own0
        threads = jvm_cpu_by_thread(self.pid)
        by_thread = {k: round(v - threads0.get(k, 0.0), 2) for k, v in threads.items()}
        top = dict(sorted(by_thread.items(), key=lambda kv: -kv[1])[:6])
        return {
            "partitions": partitions,
            "transactions": len(commits),
            "transactions_per_s": round(len(commits) / wall, 1),
            "broker_cores": round(cpu / wall, 3),
            "broker_cpu_ms_per_transaction": round(1000 * cpu / max(len(commits), 1), 2),
            # This process: the producer's and the follower's librdkafka threads, and Python.
            "client_cpu_ms_per_transaction": round(1000 * own / max(len(commits), 1), 2),
            "commit_ms": {
                "p50": round(statistics.median(commits), 1),
                "p99": round(percentile(commits, 0.99), 1),
            },
            "broker_cpu_s_by_thread": top,
        }


def fit(rows: list[dict[str, Any]], key: str) -> dict[str, float]:
    """Least squares ``ms = a + b * partitions`` of ``key`` over the rows."""
    xs = [float(r["partitions"]) for r in rows]
    ys = [float(r[key]) for r in rows]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum(
        (x - mx) ** 2 for x in xs
    )
    return {"ms_per_transaction": round(my - b * mx, 2), "ms_per_partition": round(b, 3)}


def follow(conf: dict[str, Any], stop: threading.Event) -> None:
    """A read_committed consumer of the output, as the next stage or a bank."""
    consumer = Consumer(
        conf
        | {"group.id": "bench-txn-follow", "isolation.level": "read_committed"}
        | {"auto.offset.reset": "latest"}
    )
    consumer.subscribe([OUT])
    while not stop.is_set():
        consumer.consume(1000, 0.2)
    consumer.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--warmup", type=float, default=30.0)
    parser.add_argument("--plan", type=int, nargs="+", default=[4, 32, 32, 4, 16, 16, 8, 8])
    parser.add_argument(
        "--out", type=Path, default=None, help="default bench/results/txn_cost.json"
    )
    args = parser.parse_args()
    if max(args.plan) > OUT_PARTITIONS or min(args.plan) < 1:
        parser.error(f"--plan: partitions per transaction from 1 to {OUT_PARTITIONS}")
    extra: dict[str, Any] = {
        "commit": git_commit(),
        "calibration_us": calibration_us(),
        "load_average_before": os.getloadavg(),
    }
    stop = threading.Event()
    with private_broker_info() as info:
        conf = {"bootstrap.servers": info.bootstrap}
        topics = [NewTopic(OUT, OUT_PARTITIONS, 1), NewTopic(IN, 1, 1)]
        admin = AdminClient(conf)  # kept referenced until its futures are done
        for future in admin.create_topics(topics).values():
            future.result()
        watcher = threading.Thread(target=follow, args=(conf, stop), daemon=True)
        watcher.start()
        committer = Committer(conf, info.pid)
        extra["warmup"] = committer.run(16, args.warmup)
        rows = []
        for partitions in args.plan:
            rows.append(committer.run(partitions, args.seconds))
            print(rows[-1], flush=True)
        stop.set()
        watcher.join()
    extra |= {
        "fit_broker": fit(rows, "broker_cpu_ms_per_transaction"),
        "fit_client": fit(rows, "client_cpu_ms_per_transaction"),
        "load_average_after": os.getloadavg(),
        "calibration_us_after": calibration_us(),
    }
    print(extra["fit_broker"], extra["fit_client"])
    print(write_report("txn_cost", rows, extra, args.out))


if __name__ == "__main__":
    main()

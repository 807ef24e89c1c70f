"""What paced platform traffic costs the broker, by producer linger and consumer fetch size.

Usage: ``python -m bench.bench_fetch_cost [--rate 5000] [--seconds 20] [--plan 5:1 50:1 ...]
[--out F]``

Six producers (one per platform, as the end-to-end benchmark's platforms) publish
``--rate`` records/s in total, 200 bytes each, paced as ``bench.e2e.latency.paced`` does,
to the loans and activity topics of six platforms (4 partitions each, 48 in all); one
consumer subscribed to all of them drains it, as ingress does. No transactions, no
worker: only the requests that paced traffic makes. Each entry of ``--plan`` is
``linger.ms:fetch.min.bytes`` (the consumer's ``fetch.wait.max.ms`` is ``--fetch-wait``),
run for ``--seconds`` after a warm-up entry, in the order given (alternate them: the
broker's JIT keeps compiling for minutes). Per entry: the broker's cores and this
process's (all the clients') cores, from ``/proc``.

Why it matters: at half the worker's maximum the broker took ~0.8 core per ~5 000
events/s, ~2.7x its CPU per event on the backlog (bench_end_to_end). A fetch answers as
soon as ``fetch.min.bytes`` are there: with librdkafka's 1 byte, every produce batch
that lands completes the waiting fetch, and the next one is sent at once, so the
broker serves a fetch over all 48 partitions per produce batch.
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from bench.common import (
    calibration_us,
    git_commit,
    private_broker_info,
    process_cpu_seconds,
    write_report,
)

PLATFORMS = 6
PARTITIONS = 4
VALUE = b"x" * 200


def _topics() -> list[str]:
    return [f"ingest.p{i}.{kind}" for i in range(PLATFORMS) for kind in ("loans", "activity")]


def _end(consumer: Consumer, tp: TopicPartition) -> int:
    """The partition's end offset, once it has a leader (new topics take a moment)."""
    deadline = time.monotonic() + 30
    while True:
        try:
            return int(consumer.get_watermark_offsets(tp, 10)[1])
        except KafkaException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def run(
    bootstrap: str, broker_pid: int, linger_ms: int, min_bytes: int, args: argparse.Namespace
) -> dict[str, Any]:
    """One entry: publish at ``args.rate`` for ``args.seconds`` and drain it."""
    conf = {"bootstrap.servers": bootstrap}
    producers = [
        Producer(conf | {"linger.ms": linger_ms, "acks": "all", "enable.idempotence": True})
        for _ in range(PLATFORMS)
    ]
    names = _topics()
    consumer = Consumer(
        conf
        | {
            "group.id": "bench-fetch",  # never joined: assign() only
            "fetch.wait.max.ms": args.fetch_wait,
            "fetch.min.bytes": min_bytes,
            "enable.auto.commit": False,
        }
    )
    # Assigned at the current ends (no group join to wait for): reads exactly this entry.
    ends = [TopicPartition(t, p) for t in names for p in range(PARTITIONS)]
    for tp in ends:
        tp.offset = _end(consumer, tp)
    consumer.assign(ends)
    stop, drained = threading.Event(), [0]

    def drain() -> None:
        while not stop.is_set():
            drained[0] += len(consumer.consume(1000, 0.1))

    thread = threading.Thread(target=drain, daemon=True)
    thread.start()
    broker0, self0, began = process_cpu_seconds(broker_pid), time.process_time(), time.monotonic()
    sent = 0
    while (elapsed := time.monotonic() - began) < args.seconds:
        due = int(args.rate * elapsed)
        for n in range(sent, due):
            platform = n % PLATFORMS
            topic = names[platform * 2 + (n // PLATFORMS) % 2]
            producers[platform].produce(topic, VALUE, str(n).encode())
        for producer in producers:
            producer.poll(0)
        sent = max(sent, due)
        time.sleep(0.002)
    for producer in producers:
        producer.flush(30)
    wall = time.monotonic() - began
    broker, clients = process_cpu_seconds(broker_pid) - broker0, time.process_time() - self0
    deadline = time.monotonic() + 30
    while drained[0] < sent and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    thread.join()
    consumer.close()
    return {
        "linger_ms": linger_ms,
        "fetch_min_bytes": min_bytes,
        "fetch_wait_max_ms": args.fetch_wait,
        "records_per_s": round(sent / wall),
        "broker_cores": round(broker / wall, 3),
        "clients_cores": round(clients / wall, 3),
        "drained_all": drained[0] >= sent,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=5000.0, help="records/s in all")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--fetch-wait", type=int, default=500, help="fetch.wait.max.ms")
    parser.add_argument(
        "--plan",
        nargs="+",
        default=["5:1", "50:1", "5:1048576", "5:1048576", "50:1", "5:1"],
        help="entries linger.ms:fetch.min.bytes",
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="default bench/results/fetch_cost.json"
    )
    args = parser.parse_args()
    plan = [tuple(int(x) for x in entry.split(":")) for entry in args.plan]
    extra: dict[str, Any] = {
        "commit": git_commit(),
        "calibration_us": calibration_us(),
        "load_average_before": os.getloadavg(),
        "rate": args.rate,
        "seconds": args.seconds,
    }
    with private_broker_info() as info:
        admin = AdminClient({"bootstrap.servers": info.bootstrap})
        new = [NewTopic(t, PARTITIONS, 1) for t in _topics()]
        for future in admin.create_topics(new).values():
            future.result()
        extra["warmup"] = run(info.bootstrap, info.pid, 5, 1, args)
        rows = []
        for linger_ms, min_bytes in plan:
            rows.append(run(info.bootstrap, info.pid, linger_ms, min_bytes, args))
            print(rows[-1], flush=True)
    extra |= {"load_average_after": os.getloadavg(), "calibration_us_after": calibration_us()}
    print(write_report("fetch_cost", rows, extra, args.out))


if __name__ == "__main__":
    main()

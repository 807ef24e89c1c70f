"""What one stage transaction costs on a real broker, by client setting (the latency floor).

Usage: ``python -m bench.bench_txn_latency [--rounds 60] [--out PATH]``

A transactional producer commits ``--rounds`` transactions of 50 records each, with
consumer offsets (``send_offsets_to_transaction``) as every stage does, once per
client setting below, against a private broker. Reported per setting: the median and
max milliseconds of ``begin + produce``, ``send_offsets_to_transaction`` and
``commit_transaction``. What it showed (bench/results/txn_latency.json): with
librdkafka's default ``retry.backoff.ms`` (100) the first request of each transaction
meets CONCURRENT_TRANSACTIONS while the broker still writes the previous commit's
markers and waits the backoff: ~105 ms per transaction, per hop.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from bench.common import git_commit, private_broker, write_report

SETTINGS: dict[str, dict[str, Any]] = {
    "librdkafka defaults (retry.backoff.ms 100)": {},
    "retry.backoff.ms 1, max 50 (the stages')": {"retry.backoff.ms": 1, "retry.backoff.max.ms": 50},
    "retry.backoff.ms 20": {"retry.backoff.ms": 20},
}


def _rounds(conf: dict[str, Any], name: str, extra: dict[str, Any], rounds: int) -> dict[str, Any]:
    producer = Producer(
        conf
        | {"transactional.id": f"txn-{abs(hash(name))}", "linger.ms": 5, "acks": "all"}
        | {"enable.idempotence": True}
        | extra
    )
    producer.init_transactions(30)
    meta = Consumer(conf | {"group.id": "bench-txn", "enable.auto.commit": False})
    group = meta.consumer_group_metadata()
    took: dict[str, list[float]] = {"begin_produce": [], "send_offsets": [], "commit": []}
    for i in range(rounds):
        t0 = time.perf_counter()
        producer.begin_transaction()
        for k in range(50):
            producer.produce("bench.txn.out", b"v" * 100, str(k).encode())
        t1 = time.perf_counter()
        offsets = [TopicPartition("bench.txn.in", p, i) for p in range(4)]
        producer.send_offsets_to_transaction(offsets, group, 30)
        t2 = time.perf_counter()
        producer.commit_transaction(30)
        t3 = time.perf_counter()
        for key, value in (
            ("begin_produce", t1 - t0),
            ("send_offsets", t2 - t1),
            ("commit", t3 - t2),
        ):
            took[key].append(value * 1000)
    meta.close()
    return {
        "settings": extra,
        "median_ms": {k: round(statistics.median(v), 1) for k, v in took.items()},
        "max_ms": {k: round(max(v), 1) for k, v in took.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=60)
    parser.add_argument(
        "--out", type=Path, default=None, help="default bench/results/txn_latency.json"
    )
    args = parser.parse_args()
    rows = []
    with private_broker() as bootstrap:
        conf = {"bootstrap.servers": bootstrap}
        admin = AdminClient(conf)
        for future in admin.create_topics(
            [NewTopic("bench.txn.out", 4, 1), NewTopic("bench.txn.in", 4, 1)]
        ).values():
            future.result()
        for name, extra in SETTINGS.items():
            row = {"name": name} | _rounds(conf, name, extra, args.rounds)
            print(row)
            rows.append(row)
    extra = {"commit": git_commit(), "rounds": args.rounds, "loadavg": os.getloadavg()}
    print(write_report("txn_latency", rows, extra, args.out))


if __name__ == "__main__":
    main()

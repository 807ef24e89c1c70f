"""What the schema headers (``streams.wire.headers``) cost a stage's produce call.

Usage: ``python bench/bench_headers.py [--records 200000] [--rounds 3] [--out PATH]``

The only CPU the headers add to the borrower stage is in ``Producer.produce`` (the
client turns the header list into librdkafka headers per call) plus their bytes on
the wire. This times ``produce`` of a feed-sized value with and without
``schema_headers(FEED_RECORD)``, alternated ABBA per round in one process, into a
producer whose queue only fills (its bootstrap is a closed local port, so nothing is
sent and the broker's speed is not in the figure). Reports µs per call for each arm,
the difference, the header bytes per record, the commit and the machine's load and
calibration, as the other benches do.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from confluent_kafka import Producer

from bench.common import calibration_us, git_commit, machine
from streams.wire.headers import schema_headers
from streams.wire.schemas import FEED_RECORD


def _time(records: int, headers: list[tuple[str, str | bytes | None]] | None) -> float:
    producer = Producer(
        {
            "bootstrap.servers": "127.0.0.1:1",
            "queue.buffering.max.messages": records + 10,
            "queue.buffering.max.kbytes": 4_000_000,
            "log_level": 0,
        }
    )
    value, key = b"\xc3\x01" + bytes(600), b"customer-ref-000123"
    produce = producer.produce
    began = time.process_time()
    if headers is None:
        for _ in range(records):
            produce("banks.b.feed", value, key)
    else:
        for _ in range(records):
            produce("banks.b.feed", value, key, headers=headers)
    took = time.process_time() - began
    producer.purge()
    return took / records * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("bench/results/headers_ab.json"))
    args = parser.parse_args()
    headers = schema_headers(FEED_RECORD)
    runs: dict[str, list[float]] = {"without": [], "with": []}
    for _ in range(args.rounds):
        for arm in ("without", "with", "with", "without"):
            runs[arm].append(_time(args.records, headers if arm == "with" else None))
    med = {arm: sorted(v)[len(v) // 2] for arm, v in runs.items()}
    commit = git_commit()
    report = {
        "bench": f"bench/bench_headers.py --records {args.records} --rounds {args.rounds}",
        "question": "what do the schema headers cost each feed/audit produce call?",
        "commit": commit,
        "machine": machine(),
        "load": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "calibration_us_sum_range_100": calibration_us(),
        "header_bytes_per_record": sum(len(k) + len(v or b"") for k, v in headers),
        "us_per_produce": runs,
        "median_us_per_produce": med,
        "added_us_per_record": round(med["with"] - med["without"], 3),
        # A data delivery is two records (the feed record and its audit record).
        "added_us_per_delivery": round(2 * (med["with"] - med["without"]), 3),
        "limits": "client-side CPU of produce only (queue never sent); the header bytes "
        "also cost network and broker disk; the machine is shared: compare the arms of "
        "one run, not runs",
    }
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()

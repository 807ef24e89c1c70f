"""Ingress throughput on a real broker: decode, validate, dedup, pseudonymize, produce.

Pre-loads N platform records (1% bad) onto ingest topics, then runs the real
``IngressStage`` (the same code as the worker) in this process until every record has
been forwarded or rejected, and reports events/s per CPU core (CPU time of the whole
process, librdkafka threads included), wall rate, and batch latency.

    .venv/bin/python -m bench.bench_ingress --events 200000
"""

from __future__ import annotations

import argparse
import random
import threading
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from confluent_kafka import Producer

from bench.common import cpu_seconds, percentile, private_broker, rss_mb, write_report
from streams import topics
from streams.runtime import provision
from streams.runtime.registry import codec_for
from streams.settings import Settings
from streams.stages.ingress.process import Accepted, Refused
from streams.stages.ingress.service import build_ingress
from streams.wire.schemas import ACTIVITY_EVENT, LOAN_EVENT

PLATFORMS = ("shopnow", "paywave", "ridego", "foodfast", "quickloan", "lendly")


def records(n: int, borrowers: int, seed: int) -> list[tuple[str, bytes, bytes]]:
    """``(topic, key, value)`` for n events, 1% of them junk bytes."""
    rng = random.Random(seed)
    codec = codec_for(None)
    now = datetime.now(UTC)
    out = []
    for i in range(n):
        platform = PLATFORMS[i % len(PLATFORMS)]
        b = rng.randrange(borrowers)
        key = f"{platform}-u{b}".encode()
        if rng.random() < 0.01:
            out.append((topics.ingest_loans(platform), key, rng.randbytes(40)))
            continue
        common: dict[str, Any] = {
            "event_id": f"ev-{i}",
            "occurred_at": now - timedelta(minutes=rng.randrange(60 * 24 * 30)),
            "user_key": key.decode(),
            "national_id": f"NA{b:08d}",
            "amount": Decimal(rng.randrange(100, 500_000)) / 100,
            "currency": "EUR",
        }
        if i % 3 == 0:
            datum = common | {"kind": "PURCHASE", "category": "groceries"}
            out.append((topics.ingest_activity(platform), key, codec.encode(ACTIVITY_EVENT, datum)))
        else:
            datum = common | {
                "loan_id": f"L{b}-{i % 5}",
                "lender": platform,
                "product": "BNPL",
                "type": rng.choice(["APPLICATION", "DISBURSEMENT", "REPAYMENT"]),
                "principal_outstanding": Decimal("100.00"),
                "days_past_due": 0,
                "due_date": None,
                "term_months": 6,
                "corrects_event_id": None,
            }
            out.append((topics.ingest_loans(platform), key, codec.encode(LOAN_EVENT, datum)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--borrowers", type=int, default=50_000)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    with private_broker() as bootstrap:
        settings = Settings(
            bootstrap=bootstrap,
            hmac_key="bench-key-0123456789abcdef",  # type: ignore[arg-type]
            partitions=args.partitions,
            app_id="bench",
        )
        conf = settings.kafka_client_config()
        provision.ensure(conf, provision.exchange_topics(args.partitions))
        for p in PLATFORMS:
            provision.ensure_platform(conf, p, args.partitions)
        producer = Producer(conf | {"linger.ms": 20, "batch.num.messages": 10000})
        for topic, key, value in records(args.events, args.borrowers, args.seed):
            while True:
                try:
                    producer.produce(topic, value, key)
                    break
                except BufferError:
                    producer.poll(0.05)
        producer.flush(60)

        stage = build_ingress(settings)
        done = threading.Event()
        seen = 0
        batch_ms: list[float] = []
        first = 0.0

        def on_batch(outcomes: list[Accepted | Refused], seconds: float) -> None:
            nonlocal seen, first
            first = first or time.perf_counter()
            seen += len(outcomes)
            batch_ms.append(seconds * 1000)
            if seen >= args.events:
                done.set()

        stage.on_batch = on_batch
        cpu0 = cpu_seconds()
        thread = threading.Thread(target=stage.run)
        thread.start()
        done.wait(600)
        end = time.perf_counter()
        cpu = cpu_seconds() - cpu0
        stage.stop()
        thread.join(30)
        wall = end - first
        rejected = sum(stage.stats.rejected.values())
        row = {
            "stage": "ingress",
            "events": seen,
            "rejected": rejected,
            "borrowers": args.borrowers,
            "partitions": args.partitions,
            "events_per_s_per_core": round(seen / cpu),
            "events_per_s_wall": round(seen / wall),
            "cpu_seconds": round(cpu, 2),
            "batches": len(batch_ms),
            "p50_ms": round(percentile(batch_ms, 0.5), 2),
            "p99_ms": round(percentile(batch_ms, 0.99), 2),
            "latency_is": "per transactional batch (consume → commit)",
            "rss_mb": round(rss_mb(), 1),
            "restore_per_s": None,
        }
        print(row)
        print("wrote", write_report("ingress", [row]))


if __name__ == "__main__":
    main()

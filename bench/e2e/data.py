"""The benchmark's data and how it reaches the broker.

``make_data`` runs the seeded simulator with current event times and encodes its records
as the platforms would send them (``Rec``: platform, topic kind, key, value; bad records
as their raw bytes): the first ``--events`` as a list (the backlog), the rest as a lazy
iterator (the latency phases' live records). ``subscription_plan`` decides which borrowers
each bank subscribes (``Sub``), ``subscribe`` sends those through the bank SDK, and
``provision_all`` creates every exchange, platform and bank topic on a fresh broker.
``producers`` are the platforms' SDK producers; ``publish`` sends a backlog through them
as fast as it can (unchecked: bad records go out as they are).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator
from datetime import datetime
from itertools import islice
from typing import Any

from streams import topics
from streams.clock import DAY_MS
from streams.runtime import provision
from streams.runtime.registry import codec_for
from streams.sdk.producer import PlatformProducer
from streams.sdk.subscriber import BankSubscriber
from streams.settings import KafkaConf, Settings
from streams.simulator.load import SimConfig, generate, national_ids

BANK_NAMES = ("nordbank", "alpbank", "fjordbank", "baltbank", "coastbank", "ridgebank")
PURPOSES = ("CREDIT_APPLICATION", "ACCOUNT_REVIEW", "COLLECTIONS", "FRAUD_PREVENTION")
Rec = tuple[str, str, bytes, bytes]  # platform, topic kind, key, value
Sub = tuple[str, str, str, str, str]  # bank, national id, customer_ref, consent_ref, purpose


def make_data(args: argparse.Namespace) -> tuple[SimConfig, list[Rec], Iterator[Rec]]:
    """The simulation, its first ``--events`` records (encoded) and an iterator of the rest."""
    config = SimConfig(
        now_ms=int(time.time() * 1000),
        borrowers=args.borrowers,
        events=args.events + args.live_events,
        bad_share=args.bad_share,
        seed=args.seed,
        period_ms=args.period_days * DAY_MS,
    )
    encode = codec_for(None).encode
    records = (
        (r.platform, r.topic_kind, r.key.encode(), r.raw or encode(r.schema_name, r.datum or {}))
        for r in generate(config, encode)
    )
    return config, list(islice(records, args.events)), records


def subscription_plan(config: SimConfig, banks: list[str], share: float) -> list[Sub]:
    """Bank i subscribes the borrowers whose spread index falls in its slice (slices
    overlap when ``share * banks > 1``)."""
    width = round(share * 1000)
    plan = []
    for i, nid in enumerate(national_ids(config, config.borrowers)):
        spot = (i * 7919) % 1000
        for b, bank in enumerate(banks):
            if (spot - b * 1000 // len(banks)) % 1000 < width:
                ref = f"{bank}-c{i}"
                plan.append((bank, nid, ref, f"{bank}-k{i}", PURPOSES[i % len(PURPOSES)]))
    return plan


def ingest_topics(platforms: list[str]) -> list[str]:
    """Every platform's ingest topics (loans and activity), the worker's ingress input."""
    return [t for p in platforms for t in (topics.ingest_loans(p), topics.ingest_activity(p))]


def provision_all(
    bootstrap: str, args: argparse.Namespace, platforms: list[str], banks: list[str]
) -> None:
    """Create the exchange's, the platforms' and the banks' topics."""
    conf: KafkaConf = {"bootstrap.servers": bootstrap}
    provision.ensure(conf, provision.exchange_topics(args.partitions))
    for p in platforms:
        provision.ensure_platform(conf, p, args.partitions)
    for b in banks:
        provision.ensure_bank(conf, b, args.bank_partitions or args.partitions)


def subscribe(bootstrap: str, plan: list[Sub], expires: datetime) -> None:
    """Send every subscription of ``plan`` through its bank's SDK subscriber."""
    settings = Settings(bootstrap=bootstrap)
    for bank in sorted({s[0] for s in plan}):
        with BankSubscriber(bank, settings) as sub:
            for b, nid, ref, consent, purpose in plan:
                if b == bank:
                    sub.subscribe(nid, ref, consent, purpose, expires)


def producers(bootstrap: str, platforms: list[str], **extra: Any) -> dict[str, PlatformProducer]:
    """One SDK producer per platform (``extra``: librdkafka settings on top)."""
    settings = Settings(bootstrap=bootstrap)
    conf = {"queue.buffering.max.messages": 1_000_000} | extra
    return {p: PlatformProducer(p, settings, extra_config=conf) for p in platforms}


def publish(prods: dict[str, PlatformProducer], records: list[Rec]) -> float:
    """Send ``records`` as fast as possible and close ``prods`` (the SDK's idempotent
    producers, unchecked: bad records go out as they are); returns the seconds taken."""
    began = time.monotonic()
    for platform, kind, key, value in records:
        prods[platform].send_raw(kind, key, value)  # type: ignore[arg-type]
    for prod in prods.values():
        prod.close()
    return time.monotonic() - began

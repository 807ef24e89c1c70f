"""Fill a borrower-state changelog with millions of borrowers, fast, in the stage's format.

Folding 20 M events through the stage to reach 10 M borrowers takes over half an hour
on this VM, so ``bench_state_scale --fill changelog`` writes the changelog the way the
stage would have: ``templates`` borrowers are folded by the stage's own pure batch path
(``process_batch`` with the stage's encoder; a share of them subscribed by banks, so the
expiry index has work), and each of the ``borrowers`` records is a template's state
record with the borrower id swapped for a fresh one of the same length (the id is a
length-prefixed string in the record: the bytes are exactly what the encoder writes for
a borrower with that history). Records go to ``exchange.borrower-state`` keyed by
borrower id with the events' partitioner, so each lands where the stage would own it.
"""

from __future__ import annotations

import random
import time
from typing import Any

from bench_profile import _encoded, make_events
from confluent_kafka import Producer

from streams import topics
from streams.domain.profile.windows import DEFAULT_CONFIG
from streams.runtime.registry import codec_for
from streams.stages.borrower.batch import process_batch
from streams.stages.borrower.entry import borrower_entry_from_bytes
from streams.stages.borrower.events import EventDecoder
from streams.stages.borrower.records import OutputEncoder
from streams.stages.borrower.store import BorrowerStore
from streams.wire.consents import Action, ConsentRequest, Purpose

DAY = 86_400_000


def templates(n: int, subscribed_share: float, seed: int = 11) -> list[bytes]:
    """State records of ``n`` borrowers folded by the stage's pure path (2 events each
    on average, the last 90 days); ``subscribed_share`` of them hold 1-2 banks'
    subscriptions expiring within a year."""
    now = int(time.time() * 1000)
    codec = codec_for(None)
    decoder, encoder = EventDecoder(codec), OutputEncoder(codec, DEFAULT_CONFIG)
    store = BorrowerStore(n)
    events = make_events(2 * n, n, seed=seed, end_ms=now)
    ops = [decoder.decode(0, value) for _p, value in _encoded(events, partitions=1)]
    rnd = random.Random(seed)
    bids = sorted({ev.borrower_id for ev in events})
    requests = [
        (0, _subscribe(f"bank{b}", bid, now + rnd.randrange(30, 365) * DAY, now))
        for bid in bids
        if rnd.random() < subscribed_share
        for b in range(rnd.choice((1, 2)))
    ]
    out = process_batch(requests, ops, (), store.get, now, DEFAULT_CONFIG, encoder)
    return [record for _p, record, _exp in out.states.values() if record is not None]


def _subscribe(bank: str, bid: str, expires: int, now: int) -> ConsentRequest:
    ref = f"{bank}-{bid[:12]}"
    return ConsentRequest(
        bank, bid, 1, ref, Action.SUBSCRIBE, f"c-{ref}", Purpose.ACCOUNT_REVIEW, expires, now
    )


def fill(bootstrap: str, borrowers: int, records: list[bytes], seed: int = 5) -> dict[str, Any]:
    """Write ``borrowers`` state records (templates in turn, fresh ids) to the changelog."""
    ids = [borrower_entry_from_bytes(r).state.borrower_id.encode() for r in records]
    assert all(len(i) == 64 and r.count(i) >= 1 for i, r in zip(ids, records, strict=True))
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "partitioner": "murmur2_random",  # as the events: the stage's partition
            "compression.type": "lz4",
            "linger.ms": 50,
            "batch.size": 1 << 20,
            "queue.buffering.max.messages": 1_000_000,
        }
    )
    rnd = random.Random(seed)
    began = time.monotonic()
    produce, poll, topic = producer.produce, producer.poll, topics.BORROWER_STATE
    size = 0
    for i in range(borrowers):
        t = i % len(records)
        bid = b"%064x" % rnd.getrandbits(256)
        value = records[t].replace(ids[t], bid)
        size += len(value)
        while True:
            try:
                produce(topic, value, bid)
                break
            except BufferError:
                poll(0.1)
        if i % 10_000 == 0:
            poll(0)
    producer.flush(600)
    return {
        "fill": "changelog",
        "templates": len(records),
        "fill_s": round(time.monotonic() - began, 1),
        "record_bytes_mean": round(size / max(1, borrowers)),
    }

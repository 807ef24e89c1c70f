"""Micro-benchmark of the borrower stage's delivery path (no broker): CPU per event with
banks subscribed, feed and audit records encoded as the stage writes them.

Usage: ``python -m bench.bench_feed_path [--events 60000] [--borrowers 6000] [--banks 2]``

``bench_profile.py`` measures the fold with nobody subscribed; this adds what changes
when banks hold consent: every borrower is subscribed by ``--banks`` banks first (their
snapshots are not timed), then the events go through ``process_batch`` in batches of
5000 as the stage runs them, and every delivery is encoded (``DeliveryEncoder.feed``,
the audit record sealed and encoded). Prints one JSON line: CPU µs per event of the
batch path, of the encoding, and in total; deliveries per event. Runs against whatever
``streams`` is on the path, so two commits are compared by running it twice with
``PYTHONPATH`` set to each one's checkout, alternated (``bench/results/feed_path_ab.json``).
"""

from __future__ import annotations

import argparse
import inspect
import json
import time
from typing import Any

from bench.bench_profile import _encoded, make_events
from streams.domain.audit import ChainHead
from streams.domain.profile.windows import DEFAULT_CONFIG
from streams.runtime.registry import codec_for
from streams.stages.borrower.batch import process_batch
from streams.stages.borrower.deliverybytes import DeliveryEncoder
from streams.stages.borrower.events import EventDecoder
from streams.stages.borrower.records import OutputEncoder
from streams.stages.borrower.store import BorrowerStore
from streams.wire.consents import Action, ConsentRequest, Purpose

BATCH = 5000


def run(events: int, borrowers: int, banks: int) -> dict[str, Any]:
    cfg, codec = DEFAULT_CONFIG, codec_for(None)
    decoder, encoder, store = EventDecoder(codec), OutputEncoder(codec, cfg), BorrowerStore(10**7)
    # The encoder's constructor gained the profile encoder with the nested feed profile.
    takes = len(inspect.signature(DeliveryEncoder).parameters)
    feeds = DeliveryEncoder(codec, encoder) if takes > 1 else DeliveryEncoder(codec)  # type: ignore[call-arg]
    records = _encoded(make_events(events, borrowers, end_ms=int(time.time() * 1000)))
    now = int(time.time() * 1000)
    bids = sorted({decoder.decode(p, v)[1] for p, v in records})
    requests = [
        (0, ConsentRequest(f"bank{b}", bid, 1, f"ref-{b}-{i}", Action.SUBSCRIBE, f"k{i}",
                           Purpose.ACCOUNT_REVIEW, now + 10**10, now))
        for i, bid in enumerate(bids) for b in range(banks)
    ]  # fmt: skip
    out = process_batch(requests, (), (), store.get, now, cfg, encoder)
    store.commit(out.states, dict.fromkeys(range(4), 0))
    head, cpu = ChainHead(), time.process_time
    batch_s = encode_s = 0.0
    delivered = 0
    for i in range(0, len(records), BATCH):
        now = int(time.time() * 1000)
        t0 = cpu()
        ops = [decoder.decode(p, v) for p, v in records[i : i + BATCH]]
        out = process_batch((), ops, (), store.get, now, cfg, encoder)
        t1 = cpu()
        for _p, d in out.deliveries:
            feeds.feed(d.record)
            if d.audit is not None:
                feeds.audit(head.seal(d.audit))
        t2 = cpu()
        store.commit(out.states, dict.fromkeys(range(4), i))
        batch_s, encode_s = batch_s + t1 - t0, encode_s + t2 - t1
        delivered += len(out.deliveries)
    n = len(records) / 1e6
    return {
        "events": len(records),
        "deliveries_per_event": round(delivered / len(records), 3),
        "batch_us_per_event": round(batch_s / n, 2),
        "encode_us_per_event": round(encode_s / n, 2),
        "total_us_per_event": round((batch_s + encode_s) / n, 2),
        "hand_written": feeds.hand_written,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=60_000)
    parser.add_argument("--borrowers", type=int, default=6_000)
    parser.add_argument("--banks", type=int, default=2)
    args = parser.parse_args()
    print(json.dumps(run(args.events, args.borrowers, args.banks)))


if __name__ == "__main__":
    main()

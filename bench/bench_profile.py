"""Micro-benchmark of the borrower stage's pure path (no broker): per-event CPU by part.

Usage: ``python bench/bench_profile.py [--events 200000] [--borrowers 50000]
[--old-events] [--rss-borrowers 1000000] [--out PATH]``

Generates a synthetic event mix (55% activity, 45% loan events, ~10% out of order, ~1%
duplicates) over the 90 days before now, so that every window is populated when read
at the wall clock as the stage does (``--old-events``: the same mix ending in January
2026, as the first benchmarks had it, windows mostly empty). Then measures, as CPU
time (``time.process_time``, so other load on the machine inflates it less than wall
time):

* ``stage_path``: what the borrower stage does per fetched batch of 5000, without
  Kafka: decode the encoded records (``borrower.events``), ``borrower.batch.process_batch``
  (the fold: view, material check, encodes; deliveries; expiry; the state records)
  against a ``BorrowerStore``, commit its states; GC time separately (``gc.callbacks``),
  with the stage's GC thresholds. No consent request and no subscription: nothing is
  delivered, so the figure is the fold's, comparable with the profile stage's before
  the fusion (the JSON key ``process_ops`` keeps its name). Once with every borrower
  kept decoded (as ``bench_profile_stage.py`` runs it), once with no hot cache
  (``stage_path_cold``: every touch decodes the committed record, as most touches do
  with a million borrowers per worker and the default 200 000 hot);
* per touched borrower on the final states: view without and with its memos, the
  profile and update encodes, the state record (``borrower.entry``) both ways
  (``per_touched_borrower_us``);
* the public API per event: ``apply``; ``apply`` + ``state_to_bytes``;
  ``snapshot`` + ``profile_to_avro``; restore rate of ``state_from_bytes``.

The garbage collector follows the stage's policy (``streams.runtime.gcpolicy.FreezingGc``:
large gen-0 threshold, ``gc.freeze()`` after every committed batch); ``--no-freeze``
measures the threshold alone (the policy before it). ``full_collect_ms``: one full
collection (the policy's periodic pause) with every borrower of the run decoded.

With ``--rss-borrowers N``: N state records (the run's, cycled, under N keys) loaded
into a ``BorrowerStore`` the way restore does (bytes only), then the default hot cache
(200 000) and then all N decoded; RSS after each.

Writes a JSON report (``stage=profile_pure``) to ``--out``. ``gc.freeze()`` after setup.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import resource
import time
import timeit
import zlib
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from statistics import quantiles

from streams.domain.profile.fold import apply
from streams.domain.profile.output import material_view, profile_to_avro
from streams.domain.profile.state import ProfileState, new_state, state_from_bytes, state_to_bytes
from streams.domain.profile.view import snapshot, view
from streams.domain.profile.windows import DEFAULT_CONFIG
from streams.domain.validation import to_avro
from streams.runtime.gcpolicy import FreezingGc
from streams.runtime.registry import codec_for
from streams.stages.borrower.batch import Outcome, process_batch
from streams.stages.borrower.entry import borrower_entry_from_bytes, borrower_entry_to_bytes
from streams.stages.borrower.events import EventDecoder
from streams.stages.borrower.records import OutputEncoder
from streams.stages.borrower.store import BorrowerStore
from streams.wire.events import (
    ActivityFacts,
    ActivityKind,
    ExchangeEvent,
    LoanEventType,
    LoanFacts,
    Product,
)
from streams.wire.schemas import EXCHANGE_EVENT

DAY = 86_400_000
T0 = 1_760_000_000_000
_LOAN_TYPES = [
    (LoanEventType.APPLICATION, 10),
    (LoanEventType.APPROVAL, 5),
    (LoanEventType.DISBURSEMENT, 8),
    (LoanEventType.REPAYMENT, 14),
    (LoanEventType.OVERDUE, 4),
    (LoanEventType.DEFAULT, 1),
    (LoanEventType.CLOSURE, 2),
    (LoanEventType.CORRECTION, 1),
]
_ACT_KINDS = [ActivityKind.PURCHASE, ActivityKind.RIDE, ActivityKind.FOOD_ORDER]


def make_events(
    n: int, borrowers: int, seed: int = 7, end_ms: int | None = None
) -> list[ExchangeEvent]:
    """A reproducible synthetic mix: 55% activity, 45% loan events, over 90 days ending
    at ``end_ms`` (default: 90 days after ``T0``, in January 2026)."""
    rnd = random.Random(seed)
    t0 = T0 if end_ms is None else end_ms - 90 * DAY
    bids = [f"{rnd.getrandbits(256):064x}" for _ in range(borrowers)]
    types, weights = zip(*_LOAN_TYPES, strict=True)
    out: list[ExchangeEvent] = []
    for i in range(n):
        t = t0 + i * (90 * DAY // n)
        if rnd.random() < 0.1:
            t -= rnd.randrange(30 * DAY)  # out of order
        bid = bids[rnd.randrange(borrowers)]
        plat = f"platform{rnd.randrange(8)}"
        eid = f"{rnd.getrandbits(128):032x}"
        if rnd.random() < 0.55:
            act = ActivityFacts(
                rnd.choice(_ACT_KINDS), Decimal(rnd.randrange(100, 10000)) / 100, "EUR", "x"
            )
            out.append(ExchangeEvent(eid, plat, bid, 1, t, t, activity=act))
        else:
            typ = rnd.choices(types, weights)[0]
            facts = LoanFacts(
                loan_id=f"loan{rnd.randrange(3)}",
                lender=f"lender{rnd.randrange(12)}",
                product=Product.BNPL,
                type=typ,
                amount=Decimal("120.00"),
                currency="EUR",
                principal_outstanding=Decimal(rnd.choice(["0.00", "80.00", "500.00"])),
                days_past_due=rnd.choice([0, 0, 0, 12, 40]),
                corrects_event_id=out[-1].event_id if typ is LoanEventType.CORRECTION else None,
            )
            out.append(ExchangeEvent(eid, plat, bid, 1, t, t, loan=facts))
        if rnd.random() < 0.01:
            out.append(out[-1])  # duplicate
    return out


def _pct(samples: list[int]) -> tuple[float, float]:
    q = quantiles(samples, n=100)
    return q[49] / 1e6, q[98] / 1e6


BATCH = 5000  # Settings.borrower_batch_max


class _GcClock:
    """CPU seconds spent in garbage collection (``gc.callbacks``)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._start = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._start = time.process_time()
        else:
            self.seconds += time.process_time() - self._start


def _encoded(events: list[ExchangeEvent], partitions: int = 4) -> list[tuple[int, bytes]]:
    codec = codec_for(None)
    return [
        (
            zlib.crc32(ev.borrower_id.encode()) % partitions,
            codec.encode(EXCHANGE_EVENT, to_avro(ev)),
        )
        for ev in events
    ]


def stage_path(
    records: list[tuple[int, bytes]], hot: int, freeze: bool = True
) -> tuple[dict[str, float], BorrowerStore]:
    """CPU microseconds per event of the stage's pure path, by part (see module doc);
    ``freeze``: the stage's GC policy, else only its threshold."""
    cfg, codec = DEFAULT_CONFIG, codec_for(None)
    decoder, encoder, store = EventDecoder(codec), OutputEncoder(codec, cfg), BorrowerStore(hot)
    clock = _GcClock()
    policy = FreezingGc(full_every_s=float("inf"))
    policy.start()
    gc.callbacks.append(clock)
    cpu = time.process_time
    decode_s = process_s = commit_s = 0.0
    pending = Outcome()
    try:
        for i in range(0, len(records), BATCH):
            now = int(time.time() * 1000)
            t0 = cpu()
            decode = decoder.decode
            ops = [decode(p, value) for p, value in records[i : i + BATCH]]
            t1 = cpu()
            outcome = process_batch((), ops, (), store.get, now, cfg, encoder)
            t2 = cpu()
            store.take_touched()
            # The stage commits a batch after staging the next (offsets: any that grow).
            store.commit(pending.states, dict.fromkeys(range(4), i))
            pending = outcome
            if freeze:
                policy.committed()
            commit_s += cpu() - t2
            decode_s, process_s = decode_s + t1 - t0, process_s + t2 - t1
        store.commit(pending.states, dict.fromkeys(range(4), len(records)))
    finally:
        gc.callbacks.remove(clock)
    n = len(records) / 1e6
    total = decode_s + process_s + commit_s
    return {
        "decode": decode_s / n,
        "process_ops": process_s / n,
        "commit": commit_s / n,
        "total": total / n,
        "of_which_gc": clock.seconds / n,
    }, store


def parts(store: BorrowerStore, sample: int = 20_000) -> dict[str, float]:
    """CPU microseconds per touched borrower of each step, on the final states."""
    cfg, codec = DEFAULT_CONFIG, codec_for(None)
    encoder = OutputEncoder(codec, cfg)
    entries = store.hot_entries()[:sample]
    states = [e.state for e in entries]
    now = int(time.time() * 1000)
    blobs = [b for e in entries if (b := borrower_entry_to_bytes(e)) is not None]
    views = [view(s, now, cfg) for s in states]

    def clock(f: Callable[[], object]) -> float:
        start = time.process_time()
        f()
        return (time.process_time() - start) / len(entries) * 1e6

    def cold_views() -> None:
        for s in states:
            s.credit_memo = s.activity_memo = None
            view(s, now, cfg)

    gc.disable()
    try:
        return {
            "view_cold": clock(cold_views),
            "view_memo": clock(lambda: [view(s, now, cfg) for s in states]),
            "material": clock(
                lambda: [
                    material_view(e.emitted, v, cfg) for e, v in zip(entries, views, strict=True)
                ]
            ),
            "profile_encode": clock(lambda: [encoder.profile(v) for v in views]),
            "update_encode": clock(
                lambda: [encoder.update("b" * 64, v, b"x" * 11, True, now, ()) for v in views]
            ),
            "state_record": clock(lambda: [borrower_entry_to_bytes(e) for e in entries]),
            "cold_load": clock(lambda: [borrower_entry_from_bytes(b) for b in blobs]),
        }
    finally:
        gc.enable()


def rss_at(store: BorrowerStore, borrowers: int, hot: int) -> dict[str, float]:
    """RSS growth with ``borrowers`` state records (copies of the run's, cycled) loaded
    as restore loads them (bytes only), then with the first ``hot`` of them decoded (the
    default hot cache), then all of them decoded."""
    records = [data for _, _, data in store.records()]
    big = BorrowerStore(borrowers)
    gc.collect()
    before = _rss_mb()
    for i in range(borrowers):
        big.load(i % 4, f"{i:064x}", bytes(memoryview(records[i % len(records)])))
    loaded = _rss_mb()
    keys = [(i % 4, f"{i:064x}") for i in range(borrowers)]
    for p, key in keys[:hot]:
        big.get(p, key)
    hot_mb = _rss_mb()
    # The GC policy's periodic pause (streams.runtime.gcpolicy) with the default hot cache, then
    # with everything decoded: a walk of every tracked object of the process.
    pause_hot = FreezingGc().full() * 1000
    for p, key in keys[hot:]:
        big.get(p, key)
    all_hot = _rss_mb()
    pause_all = FreezingGc().full() * 1000
    return {
        "rss_borrowers": borrowers,
        "record_bytes_mean": round(sum(map(len, records)) / len(records), 1),
        "rss_mb_process_before": before,
        "rss_mb_records_loaded": round(loaded - before, 1),
        f"rss_mb_plus_{hot}_decoded": round(hot_mb - loaded, 1),
        "rss_mb_plus_all_decoded": round(all_hot - loaded, 1),
        f"full_collect_ms_{hot}_decoded": round(pause_hot, 1),
        "full_collect_ms_all_decoded": round(pause_all, 1),
    }


def _calibration() -> float:
    loop = timeit.Timer("sum(range(100))")
    return min(loop.repeat(repeat=5, number=100_000)) / 100_000 * 1e6


def _rss_mb() -> float:
    status = Path("/proc/self/status").read_text()
    return round(int(status.split("VmRSS:")[1].split()[0]) / 1024, 1)


def run(
    n: int, borrowers: int, old_events: bool = False, freeze: bool = True
) -> tuple[dict[str, object], BorrowerStore]:
    end = None if old_events else int(time.time() * 1000)
    events = make_events(n, borrowers, end_ms=end)
    records = _encoded(events)
    cold, _ = stage_path(records, hot=0, freeze=freeze)  # every touch decodes its record
    gc.unfreeze()
    path, store = stage_path(records, hot=1_000_000, freeze=freeze)
    full_collect_ms = FreezingGc().full() * 1000  # every borrower decoded, in `store`
    gc.unfreeze()
    per_touch = parts(store)
    cfg = DEFAULT_CONFIG
    perf = time.perf_counter_ns
    cpu = time.process_time

    states: dict[str, ProfileState] = {}
    lat: list[int] = []
    start = cpu()
    for ev in events:
        st = states.get(ev.borrower_id)
        if st is None:
            st = states[ev.borrower_id] = new_state(ev.borrower_id)
        t0 = perf()
        apply(st, ev, cfg)
        lat.append(perf() - t0)
    apply_s = cpu() - start
    p50, p99 = _pct(lat)

    states = {}
    start = cpu()
    for ev in events:
        st = states.get(ev.borrower_id)
        if st is None:
            st = states[ev.borrower_id] = new_state(ev.borrower_id)
        apply(st, ev, cfg)
        state_to_bytes(st)
    apply_ser_s = cpu() - start

    as_of = max(end or 0, *(e.occurred_at_ms for e in events))
    start = cpu()
    for ev in events[:50_000]:
        profile_to_avro(snapshot(states[ev.borrower_id], as_of, cfg))
    snap_us = (cpu() - start) / min(len(events), 50_000) * 1e6

    blobs = [state_to_bytes(st) for st in states.values()]
    start = cpu()
    for blob in blobs:
        state_from_bytes(blob)
    restore_s = cpu() - start

    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "stage": "profile_pure",
        "events": len(events),
        "borrowers": len(states),
        "event_times": "January 2026 (old)" if old_events else "the 90 days before now",
        "events_per_s_per_core": round(1e6 / path["total"]),
        "stage_path_us_per_event": {k: round(v, 2) for k, v in path.items()},
        "stage_path_cold_us_per_event": {k: round(v, 2) for k, v in cold.items()},
        "per_touched_borrower_us": {k: round(v, 2) for k, v in per_touch.items()},
        "p50_ms": round(p50, 5),
        "p99_ms": round(p99, 5),
        "rss_mb": round(rss_mb, 1),
        "restore_per_s": round(len(blobs) / restore_s),
        "apply_us_per_event": round(apply_s / len(events) * 1e6, 2),
        "apply_serialize_us_per_event": round(apply_ser_s / len(events) * 1e6, 2),
        "snapshot_avro_us_per_event": round(snap_us, 2),
        "bytes_per_state_mean": round(sum(map(len, blobs)) / len(blobs), 1),
        "bytes_per_state_max": max(map(len, blobs)),
        "cpu_time": "time.process_time (CPU of this process)",
        "gc_freeze_every_batch": freeze,
        "full_collect_ms": round(full_collect_ms, 1),
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
            "loadavg_1m": round(os.getloadavg()[0], 2),
            # The VM's speed drifts (host contention): this reference loop, ~0.5 us
            # when it is fast, scales every other figure.
            "calibration_us_sum_range_100": round(_calibration(), 3),
        },
    }, store


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--borrowers", type=int, default=50_000)
    parser.add_argument("--old-events", action="store_true", help="events ending Jan 2026")
    parser.add_argument("--rss-borrowers", type=int, default=0, help="e.g. 1000000")
    parser.add_argument("--hot", type=int, default=200_000, help="hot cache for --rss-*")
    parser.add_argument(
        "--no-freeze", dest="freeze", action="store_false", help="GC threshold only"
    )
    parser.add_argument("--out", default="bench/results/profile_pure.json")
    args = parser.parse_args()
    report, store = run(args.events, args.borrowers, args.old_events, args.freeze)
    if args.rss_borrowers:
        report |= rss_at(store, args.rss_borrowers, args.hot)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"profile_pure: {report['events_per_s_per_core']} events/s per core (stage path)")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

"""Micro-benchmark of the pure profile stage (no broker): apply, serialize, snapshot, restore.

Usage: ``python bench/bench_profile.py [--events 200000] [--borrowers 50000] [--out PATH]``

Generates a synthetic event mix (activity and loan events, ~10% out of order, ~1%
duplicates) over 90 days, then measures per event:

* ``apply`` alone (p50/p99 latency of each call);
* ``apply`` + ``state_to_bytes`` (the state written back on every event, worst case);
* ``state_from_bytes`` + ``apply`` + ``state_to_bytes`` (no in-memory cache at all);
* ``snapshot`` + ``profile_to_avro`` (the public read model, per event), and what the
  stage does instead: ``view`` + the hand-written Avro body (``streams.profiles.avro``);
* ``state_from_bytes`` over every borrower (restore rate) and bytes per state.

Writes a JSON report (``stage=profile_pure``) to ``--out``. ``gc.freeze()`` after setup,
and a high gen-0 threshold, as the worker should after recovery: a large live state
otherwise triples GC cost.
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
from decimal import Decimal
from pathlib import Path
from statistics import quantiles

from streams.models import (
    ActivityFacts,
    ActivityKind,
    ExchangeEvent,
    LoanEventType,
    LoanFacts,
    Product,
)
from streams.profile import (
    DEFAULT_CONFIG,
    ProfileState,
    apply,
    new_state,
    profile_to_avro,
    snapshot,
    state_from_bytes,
    state_to_bytes,
)
from streams.profile_view import view
from streams.profiles.avro import ProfileBodies

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


def make_events(n: int, borrowers: int, seed: int = 7) -> list[ExchangeEvent]:
    """A reproducible synthetic mix: 55% activity, 45% loan events."""
    rnd = random.Random(seed)
    bids = [f"{rnd.getrandbits(256):064x}" for _ in range(borrowers)]
    types, weights = zip(*_LOAN_TYPES, strict=True)
    out: list[ExchangeEvent] = []
    for i in range(n):
        t = T0 + i * (90 * DAY // n)
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


def run(n: int, borrowers: int) -> dict[str, object]:
    events = make_events(n, borrowers)
    gc.collect()
    gc.freeze()
    # Fewer young-generation passes over a large live state (DESIGN.md: GC cost x3).
    gc.set_threshold(100_000, 50, 1000)
    cfg = DEFAULT_CONFIG
    perf = time.perf_counter_ns

    states: dict[str, ProfileState] = {}
    lat: list[int] = []
    start = perf()
    for ev in events:
        st = states.get(ev.borrower_id)
        if st is None:
            st = states[ev.borrower_id] = new_state(ev.borrower_id)
        t0 = perf()
        apply(st, ev, cfg)
        lat.append(perf() - t0)
    apply_s = (perf() - start) / 1e9
    p50, p99 = _pct(lat)

    states = {}
    start = perf()
    for ev in events:
        st = states.get(ev.borrower_id)
        if st is None:
            st = states[ev.borrower_id] = new_state(ev.borrower_id)
        apply(st, ev, cfg)
        state_to_bytes(st)
    apply_ser_s = (perf() - start) / 1e9

    table: dict[str, bytes] = {}
    start = perf()
    for ev in events:
        raw = table.get(ev.borrower_id)
        st = new_state(ev.borrower_id) if raw is None else state_from_bytes(raw)
        apply(st, ev, cfg)
        table[ev.borrower_id] = state_to_bytes(st)
    rmw_s = (perf() - start) / 1e9

    as_of = max(e.occurred_at_ms for e in events)
    start = perf()
    for ev in events:
        profile_to_avro(snapshot(states[ev.borrower_id], as_of, cfg))
    snap_s = (perf() - start) / 1e9
    bodies = ProfileBodies(cfg)
    start = perf()
    for ev in events:
        bodies.body(view(states[ev.borrower_id], as_of, cfg))
    view_s = (perf() - start) / 1e9

    blobs = list(table.values())
    start = perf()
    for blob in blobs:
        state_from_bytes(blob)
    restore_s = (perf() - start) / 1e9
    start = perf()
    for st in states.values():
        state_to_bytes(st)
    ser_s = (perf() - start) / 1e9

    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "stage": "profile_pure",
        "events": len(events),
        "borrowers": len(states),
        "events_per_s_per_core": round(len(events) / apply_ser_s),
        "p50_ms": round(p50, 5),
        "p99_ms": round(p99, 5),
        "rss_mb": round(rss_mb, 1),
        "restore_per_s": round(len(blobs) / restore_s),
        "apply_us_per_event": round(apply_s / len(events) * 1e6, 2),
        "apply_serialize_us_per_event": round(apply_ser_s / len(events) * 1e6, 2),
        "read_apply_write_us_per_event": round(rmw_s / len(events) * 1e6, 2),
        "snapshot_avro_us_per_event": round(snap_s / len(events) * 1e6, 2),
        "view_avro_body_us_per_event": round(view_s / len(events) * 1e6, 2),
        "serialize_per_s": round(len(states) / ser_s),
        "bytes_per_state_mean": round(sum(map(len, blobs)) / len(blobs), 1),
        "bytes_per_state_max": max(map(len, blobs)),
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--borrowers", type=int, default=50_000)
    parser.add_argument("--out", default="bench/results/profile_pure.json")
    args = parser.parse_args()
    report = run(args.events, args.borrowers)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"profile_pure: {report['events_per_s_per_core']} events/s per core (apply+serialize)")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

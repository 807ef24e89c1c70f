"""The borrower stage's steady state on disk vs in memory, at a million borrowers (A/B).

Usage: ``python bench/bench_state_ab.py [--borrowers 1000000] [--events-per-borrower 1.5]
[--rounds 3] [--out bench/results/state_store_ab_1m.json]``

Per round and store in turn (``memory`` first in even rounds, ``disk`` first in odd
ones): a fresh process (what one run leaves in the heap must not slow the next: the
first version of this bench ran all in one process, and the disk runs, always after a
memory run's million records, paid for its garbage), a fresh private broker, the same
synthetic events (``bench_profile.make_events``, seeded) pre-loaded on exchange.events,
and the real ``BorrowerStage`` (``bench_profile_stage.run_stage``, the default hot
cache of 200 000 decoded entries) folding all of them, every batch one transaction
with its state records. Reported per run: events/s per core, CPU us per
event, RSS, the machine's calibration and load; and per store the median. Issue 15's
target: disk within 10 % of memory. Never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from statistics import median
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_profile_stage import preload, run_stage, settings_for

from bench.common import calibration_us, git_commit, private_broker_info, write_report
from streams.runtime import provision
from streams.stages.borrower.stage import BorrowerStage

STORES = ("memory", "disk")


def one(store: str, borrowers: int, events: int) -> dict[str, Any]:
    with private_broker_info(heap="1g") as info:
        provision.prepare_stage({"bootstrap.servers": info.bootstrap}, BorrowerStage.name, 4)
        total = preload(info.bootstrap, events, borrowers)
        state = Path(tempfile.mkdtemp(prefix="cs-bench-state-ab-"))
        settings = settings_for(info.bootstrap, f"bench-{store}", state, 200_000)
        row = run_stage(settings.model_copy(update={"state_store": store}), total)
    return {
        "state_store": store,
        "events": total,
        "borrowers_held": row["borrowers"],
        "events_per_s_per_core": row["events_per_s_per_core"],
        "cpu_us_per_event": row["cpu_us_per_event"],
        "rss_mb": row["rss_mb"],
        "cpu_s_by_thread": row["cpu_s_by_thread"],
        "loadavg_1m": round(os.getloadavg()[0], 2),
        "calibration_us": calibration_us(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--borrowers", type=int, default=1_000_000)
    parser.add_argument("--events-per-borrower", type=float, default=1.5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--one", choices=STORES, help=argparse.SUPPRESS)  # a child run
    args = parser.parse_args()
    events = int(args.borrowers * args.events_per_borrower)
    if args.one:
        print(json.dumps(one(args.one, args.borrowers, events)))
        return
    commit = git_commit()
    rows = []
    for r in range(args.rounds):
        for store in STORES if r % 2 == 0 else STORES[::-1]:
            child = subprocess.run(
                [sys.executable, __file__, "--one", store, "--borrowers", str(args.borrowers),
                 "--events-per-borrower", str(args.events_per_borrower)],
                capture_output=True, text=True, check=True,
            )  # fmt: skip
            row = {"commit": commit, "round": r} | json.loads(child.stdout.splitlines()[-1])
            print(row, flush=True)
            rows.append(row)

    def by_store(key: str) -> dict[str, float]:
        return {s: median(x[key] for x in rows if x["state_store"] == s) for s in STORES}

    med, cpu = by_store("events_per_s_per_core"), by_store("cpu_us_per_event")
    result = {
        "median_events_per_s_per_core": med,
        "median_cpu_us_per_event": cpu,
        "disk_vs_memory": round(med["disk"] / med["memory"] - 1, 3),
    }
    notes = {
        "what": "one BorrowerStage per run, each run a fresh process with a fresh broker (it "
        "shares the 2 cores), the order alternated per round; no bank subscribed, so no feed "
        "or audit records: the stateful part; borrowers_held: exact in memory, RocksDB's "
        "estimate on disk (index keys and not yet compacted versions included)",
    }
    out = write_report("state_store_ab_1m", rows, {"result": result, "notes": notes}, args.out)
    print(result, f"wrote {out}", sep="\n")


if __name__ == "__main__":
    main()

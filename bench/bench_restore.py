"""The borrower stage's full restore, in-process, with replay settings alternated (A/B).

Usage: ``python bench/bench_restore.py [--borrowers 2000000] [--rounds 3]
[--out bench/results/restore_fetch_ab.json]``

A private broker; ``--borrowers`` state records written to exchange.borrower-state by
``state_fill`` (the stage's record format); then, per round and variant in turn,
``stages.borrower.recovery.restore`` into fresh RocksDB stores (as an assignment of all
four partitions does), records/s and the process's cores. Variants are consumer
settings layered over the replay's own (``changelog.REPLAY_FETCH``): ``current`` (as
shipped) and ``librdkafka-default`` (1 MiB per partition, 50 MiB per fetch, as before).
Never asserted; the machine's calibration and load are recorded per figure.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from state_fill import fill, templates

from bench.common import calibration_us, git_commit, private_broker_info, write_report
from streams.runtime import provision
from streams.runtime.state import PartitionStore
from streams.stages.borrower.recovery import restore
from streams.stages.borrower.stage import BorrowerStage
from streams.stages.borrower.store import BorrowerStore

PARTITIONS = [0, 1, 2, 3]
VARIANTS: dict[str, dict[str, Any]] = {
    "current": {},
    "librdkafka-default": {"max.partition.fetch.bytes": 1 << 20, "fetch.max.bytes": 52428800},
}


def one(conf: dict[str, Any], extra: dict[str, Any]) -> dict[str, float]:
    root = Path(tempfile.mkdtemp(prefix="cs-bench-restore-"))
    try:
        store = BorrowerStore(1000, lambda p: PartitionStore.open(root / str(p)))
        store.assign(PARTITIONS)
        wall, cpu = time.perf_counter(), time.process_time()
        n = restore(conf | extra, "bench-restore", PARTITIONS, store, lambda *_: None, 60)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        store.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    calibration = calibration_us()
    return {
        "records": n,
        "seconds": round(wall, 2),
        "records_per_s": round(n / wall),
        "process_cores": round(cpu / wall, 2),
        "loadavg_1m": round(os.getloadavg()[0], 2),
        "calibration_us": round(calibration, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--borrowers", type=int, default=2_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    commit = git_commit()
    rows: list[dict[str, Any]] = []
    with private_broker_info(heap="1g") as info:
        conf = {"bootstrap.servers": info.bootstrap}
        provision.prepare_stage(conf, BorrowerStage.name, len(PARTITIONS))
        print(fill(info.bootstrap, args.borrowers, templates(20_000, 0.2)), flush=True)
        for r in range(args.rounds):
            for name, extra in VARIANTS.items():
                row = {"commit": commit, "round": r, "variant": name} | one(conf, extra)
                print(row, flush=True)
                rows.append(row)
    summary = {
        name: sorted(x["records_per_s"] for x in rows if x["variant"] == name)[args.rounds // 2]
        for name in VARIANTS
    }
    notes = {
        "what": "restore() of 4 partitions into empty RocksDB stores, in this process; the "
        "broker runs on the same 2 cores (it serves the fetches)",
        "median_records_per_s": summary,
    }
    out = write_report("restore_fetch_ab", rows, {"notes": notes}, args.out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

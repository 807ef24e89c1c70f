"""State at scale: the borrower stage's state on disk, restored, restarted and moved.

Usage: ``python bench/bench_state_scale.py [--borrowers 1000000] [--events-per-borrower 2]
[--fill stage|changelog] [--out bench/results/state_scale.json]``

1. A private broker; ``--borrowers`` x ``--events-per-borrower`` synthetic events
   (``bench_profile.make_events``) on exchange.events.
2. **populate**: the real borrower stage (``BorrowerStage``, in this process, state on
   disk) folds them all: the state changelog exchange.borrower-state is written by the
   stage's own encoder, one record per borrower. Events/s per core of that run. With
   ``--fill changelog`` (10 M borrowers: the stage would take over half an hour) steps
   1-2 are replaced by ``state_fill``: template borrowers folded by the stage's pure
   path, their records written to the changelog under fresh ids.
3. **full restore**: a ``creditstream worker --stages borrower`` process with an empty
   state dir and the same app id (so nothing is left to process) restores everything
   from the changelog: seconds from process start to /ready, the stage's own restore
   seconds and records (its log line), RSS once ready, the state dir's bytes.
4. **restart**: SIGKILL that worker and start it again on its state dir: seconds to
   /ready and records replayed (the stores lose what was not flushed: no WAL).
5. **scale 1 -> 2 -> 1**: a second worker joins (its own, empty, state dir), then leaves
   (SIGTERM); per step the seconds until every running worker has logged its new
   assignment and answers /ready, and the records each replayed.

Writes ``--out`` with the figures, the commit and a calibration of the machine. Never
asserted; what limits each figure is in the report's ``notes``.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_profile_stage import preload, run_stage, settings_for
from state_fill import fill, templates

from bench.common import calibration_us, git_commit, private_broker_info, write_report
from bench.e2e.reaper import Reaper
from bench.e2e.worker import APP_ID, BenchError, Children, Worker
from streams.runtime import provision
from streams.stages.borrower.stage import BorrowerStage

RESTORED = re.compile(r"borrower assigned \[([0-9, ]*)\]: restored (\d+) records in ([0-9.]+)s")
PARTITIONS = 4


def du_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20


def assigned_since(worker: Worker, mark: int) -> list[tuple[list[int], int, float]]:
    """The borrower assignments ``worker`` logged after ``mark``: (partitions, records
    replayed, seconds)."""
    return [
        ([int(p) for p in parts.split(",") if p.strip()], int(n), float(s))
        for parts, n, s in RESTORED.findall(worker.log_since(mark))
    ]


def settle(workers: list[Worker], marks: list[int], began: float, timeout: float) -> float:
    """Seconds from ``began`` until every worker logged an assignment after its mark and
    answers /ready."""
    while True:
        for w in workers:
            w.check_alive()
        if all(assigned_since(w, m) and w.ready() for w, m in zip(workers, marks, strict=True)):
            return time.monotonic() - began
        if time.monotonic() - began > timeout:
            raise BenchError("not settled in time:\n" + "\n".join(w.log_tail() for w in workers))
        time.sleep(0.1)


def step(workers: list[Worker], marks: list[int], began: float, timeout: float) -> dict[str, Any]:
    took = settle(workers, marks, began, timeout)
    return {
        "to_ready_s": round(took, 2),
        "workers": [
            {
                "worker": w.name,
                "partitions": assigned_since(w, m)[-1][0],
                "replayed_records": sum(n for _, n, _ in assigned_since(w, m)),
                "restore_s": round(sum(s for _, _, s in assigned_since(w, m)), 2),
            }
            for w, m in zip(workers, marks, strict=True)
        ],
    }


def populate(bootstrap: str, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Steps 1-2: events through the real stage (see the module doc)."""
    events = int(args.borrowers * args.events_per_borrower)
    total = preload(bootstrap, events, args.borrowers)
    print(f"pre-loaded {total} events", flush=True)
    settings = settings_for(bootstrap, APP_ID, work / "populate", 200_000)
    populated = run_stage(settings.model_copy(update={"state_store": "disk"}), total)
    print(f"populated: {populated}", flush=True)
    return {
        "fill": "stage",
        "events": total,
        # Borrower ids drawn per event: some get none (RocksDB's key estimate says
        # roughly how many the stores hold).
        "borrowers": args.borrowers,
        "state_keys_estimate": populated["borrowers"],
        "populate_events_per_s_per_core": populated["events_per_s_per_core"],
        "populate_cpu_us_per_event": populated["cpu_us_per_event"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--borrowers", type=int, default=1_000_000)
    parser.add_argument("--events-per-borrower", type=float, default=2.0)
    parser.add_argument("--fill", choices=("stage", "changelog"), default="stage")
    parser.add_argument("--templates", type=int, default=20_000)
    parser.add_argument("--subscribed-share", type=float, default=0.2)
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="cs-bench-state-"))
    wargs = argparse.Namespace(
        workdir=work,
        partitions=PARTITIONS,
        # A leaving static member's partitions move after the session timeout.
        worker_env=["CREDITSTREAM_SESSION_TIMEOUT_MS=10000", "CREDITSTREAM_STATE_STORE=disk"],
    )
    commit = git_commit()
    calibration = calibration_us()
    row: dict[str, Any] = {"commit": commit, "calibration_us": round(calibration, 3)}
    reaper = Reaper(work)
    with private_broker_info(heap="1g") as info, Children(reaper) as children:
        conf = {"bootstrap.servers": info.bootstrap}
        provision.prepare_stage(conf, BorrowerStage.name, PARTITIONS)
        if args.fill == "changelog":
            records = templates(args.templates, args.subscribed_share)
            row |= {"borrowers": args.borrowers, "subscribed_share": args.subscribed_share}
            row |= fill(info.bootstrap, args.borrowers, records)
            print(f"filled: {row}", flush=True)
        else:
            row |= populate(info.bootstrap, args, work)

        one = Worker("w1", info.bootstrap, wargs, children)
        one.stages = "borrower"
        began = time.monotonic()
        one.start()
        full = step([one], [0], began, args.timeout)
        replayed = full["workers"][0]["replayed_records"]
        restore_s = full["workers"][0]["restore_s"]
        row |= {
            "full_restore_to_ready_s": full["to_ready_s"],
            "full_restore_records": replayed,
            "full_restore_per_s": round(replayed / restore_s) if restore_s else None,
            "rss_mb": round(one.rss_mb()),
            "state_dir_mb": round(du_mb(one.state_dir), 1),
        }
        row["state_dir_mb_per_million_borrowers"] = round(
            row["state_dir_mb"] / max(1, row["borrowers"]) * 1e6, 1
        )
        print(f"full restore: {full}", flush=True)

        mark = one.log_size()
        one.kill()
        began = time.monotonic()
        one.start()
        restart = step([one], [mark], began, args.timeout)
        row |= {
            "restart_to_ready_s": restart["to_ready_s"],
            "restart_replayed_records": restart["workers"][0]["replayed_records"],
            "rss_mb_after_restart": round(one.rss_mb()),
        }
        print(f"restart: {restart}", flush=True)

        two = Worker("w2", info.bootstrap, wargs, children)
        two.stages = "borrower"
        marks = [one.log_size(), 0]
        began = time.monotonic()
        two.start()
        up = step([one, two], marks, began, args.timeout)
        print(f"1 -> 2: {up}", flush=True)
        mark = one.log_size()
        began = time.monotonic()
        two.stop()
        down = step([one], [mark], began, args.timeout)
        print(f"2 -> 1: {down}", flush=True)
        row["rebalance_steps"] = [{"step": "1->2", **up}, {"step": "2->1", **down}]
        row["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    reaper.disarm()
    notes = {
        "what": "one worker process, --stages borrower, default settings but state_store="
        "disk and a 10 s session timeout (so a leaving worker's partitions move soon)",
        "rss_mb": "after the full restore, before any event: entries are decoded only on "
        "first touch, so a worker processing events holds up to borrower_hot_states "
        "(200 000) decoded entries more",
        "restart": "the stores write without RocksDB's WAL, so a SIGKILL loses what was "
        "not flushed and the restart replays it",
        "2->1": "includes the session timeout: the leaving worker's static membership "
        "keeps its partitions until it expires",
    }
    out = write_report("state_scale", [row], {"notes": notes}, args.out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

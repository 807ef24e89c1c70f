"""The benchmark's command line: options, the work dir, clean-up, the report file.

``parse_args`` reads the options (``--quick`` lowers every size left at its default);
``main`` makes the work dir, turns SIGTERM and SIGHUP into a clean stop, arms the
``Reaper``, runs the phases (``run.run``), writes ``end_to_end.json`` (``--quick``: a file
in the temp dir unless ``--out``) and prints its summary. Exit status: 0 done, 1 the
benchmark could not measure (``BenchError``, message printed), 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import tempfile
import time
from pathlib import Path

from bench import e2e
from bench.common import calibration_us, git_commit, write_report
from bench.e2e.data import BANK_NAMES
from bench.e2e.reaper import Reaper
from bench.e2e.report import render
from bench.e2e.run import run
from bench.e2e.worker import BenchError
from streams import native

QUICK = {
    "borrowers": 6_000,
    "events": 20_000,
    "live_events": 60_000,
    "banks": 3,
    "latency_seconds": 8.0,
    "faust_events": 6_000,
    "faust_seconds": 90.0,
    "timeout": 300.0,
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The options of ``argv`` (default: the command line's), ``--quick`` applied."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.bench_end_to_end",
        description=e2e.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="bench/results/end_to_end.json is a default run: make it on a quiet machine.",
    )
    add = parser.add_argument
    add("--quick", action="store_true", help="small sizes: every phase in about 2 minutes")
    add("--borrowers", type=int, default=120_000)
    add("--events", type=int, default=300_000, help="backlog records (about 1%% bad)")
    add("--live-events", type=int, default=450_000, help="records held for the latency phases")
    add("--banks", type=int, default=4, choices=range(1, len(BANK_NAMES) + 1))
    add("--bank-share", type=float, default=0.3, help="share of borrowers each bank subscribes")
    add("--period-days", type=int, default=30, help="event times span the last N days")
    add("--bad-share", type=float, default=0.01)
    add("--partitions", type=int, default=4)
    add(
        "--bank-partitions",
        type=int,
        default=None,
        help="partitions of each bank's subscriptions and feed topics (default: --partitions); "
        "a borrower transaction under load writes to every feed partition",
    )
    add("--seed", type=int, default=11)
    add(
        "--loads",
        type=float,
        nargs="+",
        default=[0.01, 0.5, 0.7],
        help="shares of the max rate (0.01: a trickle, up to ~100 events/s)",
    )
    add("--latency-seconds", type=float, default=45.0, help="per load level")
    add("--faust-events", type=int, default=40_000, help="backlog prefix the baseline runs on")
    add("--faust-seconds", type=float, default=420.0, help="the baseline's time limit")
    add("--timeout", type=float, default=900.0, help="per phase")
    add("--broker-heap", default="1g")
    add("--skip-scale", action="store_true", help="no 2-worker run")
    add("--skip-faust", action="store_true", help="no obvious-Faust baseline")
    add("--skip-restore", action="store_true")
    add("--out", type=Path, help="default bench/results/end_to_end.json (--quick: temp dir)")
    add("--keep", action="store_true", help="keep the work dir (worker logs) afterwards")
    add(
        "--worker-env",
        metavar="KEY=VALUE",
        action="append",
        default=[],
        help="extra environment for the workers (repeatable), e.g. "
        "CREDITSTREAM_BORROWER_BATCH_MAX=10000",
    )
    add(
        "--split",
        action="store_true",
        help="run each worker as two processes, --stages ingress,consents and --stages "
        "borrower (one GIL each; their CPU is added up as one worker's)",
    )
    add(
        "--py-spy",
        metavar="BIN",
        help="profile the worker's main timed run with this py-spy binary (perturbs it a "
        "little; the summary goes into the report, the raw stacks into the work dir)",
    )
    args = parser.parse_args(argv)
    if args.quick:
        for key, value in QUICK.items():
            if getattr(args, key) == parser.get_default(key):
                setattr(args, key, value)
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; returns the exit status."""
    args = parse_args(argv)
    args.workdir = Path(tempfile.mkdtemp(prefix="cs-bench-e2e-"))
    args.load_at_start = [round(x, 2) for x in os.getloadavg()]  # how quiet the machine was

    def on_signal(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)

    def say(text: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)

    began = time.monotonic()
    # What every figure needs beside it: the code, the machine's speed and its load.
    conditions = {
        "commit": git_commit(),
        # Compiled or pure, as the workers (same checkout, --worker-env) will run it.
        "hot_path": native.read_status(
            environ=os.environ | dict(kv.split("=", 1) for kv in args.worker_env)
        ).describe(),
        "calibration_us": calibration_us(),
        "load_average_before": os.getloadavg(),
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    reaper = Reaper(args.workdir)
    try:
        report = run(args, reaper, say)
    except KeyboardInterrupt:
        say("interrupted: brokers and workers stopped")
        return 130
    except BenchError as exc:
        say(f"FAILED: {exc}")
        return 1
    finally:
        reaper.disarm()
        if args.keep:
            say(f"work dir kept: {args.workdir}")
        else:
            shutil.rmtree(args.workdir, ignore_errors=True)
    report["data"]["run_seconds"] = round(time.monotonic() - began)
    report |= conditions | {
        "calibration_us_after": calibration_us(),
        "load_average_after": os.getloadavg(),
    }
    out = args.out
    if out is None and args.quick:
        out = Path(tempfile.gettempdir()) / "creditstream-end_to_end-quick.json"
    path = write_report("end_to_end", report.pop("results"), report, out)
    say(f"wrote {path}")
    print(render(json.loads(path.read_text())))
    return 0

"""Worker start and restart to ``/ready``, and what the worker leaves on the broker.

Runs ``creditstream worker`` of this tree against a private broker and records, per
round: seconds from process start to ``/ready`` 200, the same for a restart with the same
app id and state dir, and the topics and consumer group named after the app id (Faust's
own, when it runs Kafka clients). With ``--compare-with REV`` the same is measured for
that revision (a git worktree of it, run from its own folder), alternated round by round
with this tree in one run on the same machine.

    python -m bench.bench_worker_start [--rounds 5] [--compare-with REV] [--out PATH]

Limits: start-up time is dominated by Python imports and the broker's group protocol;
on a shared 2-core VM it moves by a second between runs, so read the medians of the
alternated rounds, never one figure; the load average and calibration are recorded.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from confluent_kafka.admin import AdminClient

from bench.common import calibration_us, free_port, private_broker, write_report

ROOT = Path(__file__).resolve().parents[1]


def seconds_to_ready(env: dict[str, str], cwd: Path, timeout_s: float = 120.0) -> float:
    began = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "streams.cli", "worker"],
        cwd=cwd,  # ``-m`` puts the working directory first on sys.path: the tree to run
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{env['CREDITSTREAM_WEB_PORT']}/ready"
    try:
        while time.monotonic() - began < timeout_s:
            try:
                with urllib.request.urlopen(url, timeout=1) as resp:
                    if resp.status == 200:
                        return time.monotonic() - began
            except OSError:
                pass
            if proc.poll() is not None:
                raise RuntimeError(f"worker exited with {proc.returncode}")
            time.sleep(0.05)
        raise RuntimeError("worker never became ready")
    finally:
        proc.terminate()
        proc.wait(60)


def one(bootstrap: str, tree: str, path: Path | None) -> dict[str, Any]:
    app_id = f"ws{uuid.uuid4().hex[:6]}"
    env = dict(os.environ) | {
        "CREDITSTREAM_BOOTSTRAP": bootstrap,
        "CREDITSTREAM_APP_ID": app_id,
        "CREDITSTREAM_STATE_DIR": tempfile.mkdtemp(prefix="ws-"),
        "CREDITSTREAM_WEB_PORT": str(free_port()),
        "CREDITSTREAM_HMAC_KEY": "bench-worker-start-key-0123456789",
    }
    cwd = path or ROOT
    first = seconds_to_ready(env, cwd)
    restart = seconds_to_ready(env, cwd)
    admin = AdminClient({"bootstrap.servers": bootstrap})
    left = sorted(t for t in admin.list_topics(timeout=10).topics if t.startswith(app_id))
    groups = admin.list_consumer_groups().result(timeout=10).valid
    return {
        "tree": tree,
        "start_to_ready_s": round(first, 2),
        "restart_to_ready_s": round(restart, 2),
        "faust_topics": left,
        "faust_group": [g.group_id for g in groups if g.group_id == app_id],
    }


def git(*args: str) -> str:
    done = subprocess.run(["git", *args], capture_output=True, text=True, check=True)
    return done.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="rounds (default 5)")
    parser.add_argument("--compare-with", metavar="REV", help="also measure this revision")
    parser.add_argument("--out", type=Path, help="report path (default bench/results/)")
    args = parser.parse_args()
    load_before = os.getloadavg()
    commit = git("rev-parse", "--short", "HEAD")
    trees: list[tuple[str, Path | None]] = [(f"{commit} (this tree)", None)]
    if args.compare_with:
        other = Path(tempfile.mkdtemp(prefix="ws-tree-"))
        git("worktree", "add", "--detach", str(other), args.compare_with)
        trees.insert(0, (git("rev-parse", "--short", args.compare_with), other))
    rows: list[dict[str, Any]] = []
    try:
        with private_broker() as bootstrap:
            for _ in range(args.rounds):
                for tree, path in trees:
                    rows.append(one(bootstrap, tree, path))
                    print(rows[-1], flush=True)
    finally:
        for _tree, path in trees:
            if path is not None:
                git("worktree", "remove", "--force", str(path))

    def median(key: str, tree: str) -> float:
        return statistics.median(r[key] for r in rows if r["tree"] == tree)

    summary = {
        f"{key}_median": {tree: median(key, tree) for tree, _ in trees}
        for key in ("start_to_ready_s", "restart_to_ready_s")
    }
    extra = {
        "commit": commit,
        "load_average_before_after": [load_before, os.getloadavg()],
        "calibration_us_sum_range_100": calibration_us(),
        "summary": summary,
    }
    print(write_report("worker_start", rows, extra, args.out))
    print(summary)


if __name__ == "__main__":
    main()

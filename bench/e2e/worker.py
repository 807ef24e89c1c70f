"""The real ``creditstream worker`` processes the benchmark measures, and their reading.

``Children`` owns every process started on one broker (workers, the Faust baseline,
py-spy) and ends those still running when its ``with`` block is left, before the broker
stops. ``Worker`` is one worker process with its own state dir, web port and log in the
work dir: start, stop (SIGTERM, then SIGKILL after 30 s), kill, ``/ready``, ``/metrics``
(parsed into ``name{label=value,...}`` samples) and its CPU and RSS from /proc.
``start_settled`` starts workers and returns once each has every stage assigned (its state
restored) and answers /ready, so a timed phase measures processing, not start-up.

Any failure to measure is a ``BenchError`` whose message says why (with a log tail).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from bench.common import free_port, process_cpu_seconds, process_rss_mb
from bench.e2e.reaper import Reaper

REPO = Path(__file__).resolve().parents[2]
APP_ID = "bench-e2e"
HMAC_KEY = "bench-end-to-end-hmac-key-0123456789"
ASSIGNED = ("ingress assigned", "consents assigned", "borrower assigned")


class BenchError(RuntimeError):
    """The benchmark could not measure what it meant to (says why)."""


def _wait_or_kill(proc: subprocess.Popen[bytes], timeout: float) -> None:
    """Wait up to ``timeout`` s for ``proc`` to exit, then SIGKILL it (and reap it)."""
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


class Children:
    """Child processes started on one broker; leaving the ``with`` block ends those still
    running (before the broker stops, so they can shut down cleanly)."""

    def __init__(self, reaper: Reaper) -> None:
        self.reaper = reaper
        self.procs: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> Children:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def popen(self, cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                cmd,
                env=env,
                cwd=REPO,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # our Ctrl-C reaches us only: we stop them in order
            )
        self.procs.append(proc)
        self.reaper.add_pid(proc.pid)
        return proc

    def close(self) -> None:
        live = [p for p in self.procs if p.poll() is None]
        for p in live:
            p.terminate()
            p.send_signal(signal.SIGCONT)  # if it was frozen (backlog.run_backlog)
        deadline = time.monotonic() + 20
        for p in live:
            _wait_or_kill(p, max(0.1, deadline - time.monotonic()))


class Worker:
    """One ``creditstream worker`` process (start, stop, kill, /ready, /metrics, CPU)."""

    def __init__(self, name: str, bootstrap: str, args: argparse.Namespace, children: Children):
        self.name, self.children = name, children
        self.state_dir = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=args.workdir))
        self.log_path = args.workdir / f"{name}.log"
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("CREDITSTREAM_")}
        self.env = (
            env
            | {
                "CREDITSTREAM_BOOTSTRAP": bootstrap,
                "CREDITSTREAM_APP_ID": APP_ID,
                "CREDITSTREAM_STATE_DIR": str(self.state_dir),
                "CREDITSTREAM_WEB_PORT": str(self.port),
                "CREDITSTREAM_HMAC_KEY": HMAC_KEY,
                "CREDITSTREAM_PARTITIONS": str(args.partitions),
                # Frozen while a backlog is published (run_backlog), a worker must not
                # look dead to its groups or lose a transaction: 60 s, not 10 s / 15 s.
                "CREDITSTREAM_SESSION_TIMEOUT_MS": "60000",
                "CREDITSTREAM_TRANSACTION_TIMEOUT_MS": "60000",
            }
            | dict(kv.split("=", 1) for kv in args.worker_env)
        )
        self.proc: subprocess.Popen[bytes] | None = None
        #: ``--stages`` of the worker (None: every stage).
        self.stages: str | None = None

    def assigned_lines(self) -> list[str]:
        """The log lines that say each of its stages is assigned and restored."""
        mine = None if self.stages is None else self.stages.split(",")
        return [a for a in ASSIGNED if mine is None or a.split()[0] in mine]

    def start(self) -> None:
        cmd = [sys.executable, "-m", "streams.cli", "worker", "--loglevel", "info"]
        if self.stages:
            cmd += ["--stages", self.stages]
        self.proc = self.children.popen(cmd, self.env, self.log_path)

    @property
    def pid(self) -> int:
        if self.proc is None:
            raise BenchError(f"{self.name} is not running")
        return self.proc.pid

    def check_alive(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            code = None if self.proc is None else self.proc.returncode
            raise BenchError(f"{self.name} exited ({code}):\n{self.log_tail()}")

    def cpu(self) -> float:
        return process_cpu_seconds(self.pid)

    def rss_mb(self) -> float:
        return process_rss_mb(self.pid)

    def _get(self, path: str) -> tuple[int, str]:
        url = f"http://127.0.0.1:{self.port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode(errors="replace")
        except (OSError, urllib.error.URLError):
            return 0, ""

    def ready(self) -> bool:
        return self._get("/ready")[0] == 200

    def metrics(self) -> dict[str, float]:
        """Samples as ``name{label=value,...}`` -> value (labels sorted)."""
        status, text = self._get("/metrics")
        if status != 200:
            return {}
        out = {}
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
                out[f"{s.name}{{{labels}}}"] = s.value
        return out

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            _wait_or_kill(self.proc, 30)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def log_size(self) -> int:
        """The log's length now: a mark for ``log_since``."""
        return self.log_path.stat().st_size if self.log_path.exists() else 0

    def log_since(self, mark: int) -> str:
        """What the worker has logged after ``mark`` (a ``log_size``)."""
        with open(self.log_path, "rb") as log:
            log.seek(mark)
            return log.read().decode(errors="replace")

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


def metric_sum(samples: dict[str, float], name: str, **labels: str) -> float:
    """Sum of the samples of ``name`` whose labels include ``labels``."""
    total = 0.0
    for key, value in samples.items():
        base, _, rest = key.partition("{")
        if base != name:
            continue
        have = dict(kv.split("=", 1) for kv in rest.rstrip("}").split(",") if kv)
        if all(have.get(k) == v for k, v in labels.items()):
            total += value
    return total


def borrowers_held(samples: dict[str, float]) -> float:
    """How many borrowers the worker(s) of ``samples`` hold in the borrower stage's table
    (every borrower with an event or a subscription)."""
    return metric_sum(samples, "creditstream_table_entries", table="borrowers")


STAGES = ("ingress", "consents", "borrower")


def commits(before: dict[str, float], after: dict[str, float], wall: float) -> dict[str, Any]:
    """Per stage, between two ``merged_metrics`` readings ``wall`` seconds apart: its
    transactions, per second, and their mean commit time (step 4, ms;
    ``creditstream_stage_commit_seconds``). Each costs the broker a commit marker per
    partition written (bench/bench_txn_cost.py)."""
    out: dict[str, Any] = {}
    for stage in STAGES:
        n, took = (
            metric_sum(after, f"creditstream_stage_commit_seconds_{part}", stage=stage)
            - metric_sum(before, f"creditstream_stage_commit_seconds_{part}", stage=stage)
            for part in ("count", "sum")
        )
        if n:
            out[stage] = {
                "transactions": int(n),
                "per_s": round(n / wall, 1),
                "commit_ms_mean": round(1000 * took / n, 1),
            }
    return out


def team(name: str, bootstrap: str, args: argparse.Namespace, children: Children) -> list[Worker]:
    """One worker as the benchmark runs it: one process with every stage, or with
    ``--split`` two processes of the same groups (ingress and consents; the borrower
    stage), so that the stages do not share a GIL. Figures add their CPU and RSS up."""
    if not args.split:
        return [Worker(name, bootstrap, args, children)]
    front, back = (
        Worker(name, bootstrap, args, children),
        Worker(f"{name}b", bootstrap, args, children),
    )
    front.stages, back.stages = "ingress,consents", "borrower"
    return [front, back]


def merged_metrics(workers: list[Worker]) -> dict[str, float]:
    """The samples of every process of ``workers``, added up."""
    out: dict[str, float] = {}
    for w in workers:
        for k, v in w.metrics().items():
            out[k] = out.get(k, 0.0) + v
    return out


def start_settled(workers: list[Worker], timeout: float = 180) -> None:
    """Start ``workers`` and wait until each has logged every stage's assignment (its
    state restored) and answers /ready 200: the timed phases then measure processing,
    not start-up. (/ready alone is 200 for a moment before any partition is assigned.)"""
    marks = {}
    for w in workers:
        marks[w.name] = w.log_size()
        w.start()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = True
        for w in workers:
            w.check_alive()
            text = w.log_since(marks[w.name])
            done = done and all(a in text for a in w.assigned_lines()) and w.ready()
        if done:
            time.sleep(1)  # a rebalance between the workers settles
            return
        time.sleep(0.2)
    raise BenchError(f"workers not settled after {timeout:.0f}s:\n{workers[0].log_tail()}")

"""Shared benchmark plumbing: a private real broker, machine facts, JSON reports."""

from __future__ import annotations

import json
import os
import platform
import resource
import shutil
import subprocess
import tempfile
import timeit
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from streams.localkafka import BrokerInfo, BrokerSpec, start, stop
from streams.settings import Settings

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "kafka": Settings().kafka_version,
        "platform": platform.platform(),
    }


def git_commit() -> str:
    """The short commit of the checkout the benchmark runs from, ``-dirty`` when its
    tracked files differ from it (a figure must name the code that produced it)."""
    root = Path(__file__).resolve().parent.parent

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)
        return done.stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    return commit + ("-dirty" if git("status", "--porcelain", "--untracked-files=no") else "")


def calibration_us() -> float:
    """µs per ``sum(range(100))``, best of 5 x 100,000: how fast this machine's Python is
    right now (the VM's speed drifts with its host's load; ~0.5 µs when it is fast)."""
    return round(min(timeit.repeat("sum(range(100))", number=100_000, repeat=5)) * 10, 3)


def cpu_seconds() -> float:
    """User + system CPU of this process so far (all threads, librdkafka's too)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def rss_mb() -> float:
    """Peak resident memory of this process, MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def private_broker_info(heap: str = "1g") -> Iterator[BrokerInfo]:
    """A fresh broker on free ports (``BrokerInfo``: bootstrap, pid, ...) for one
    benchmark run; stopped (also on Ctrl-C or an error while starting) and wiped after."""
    settings = Settings()
    data = Path(tempfile.mkdtemp(prefix="cs-bench-"))
    spec = BrokerSpec(
        data, settings.cache_dir, settings.kafka_version, free_port(), free_port(), heap=heap
    )
    try:
        yield start(spec)
    finally:
        stop(spec)
        shutil.rmtree(data, ignore_errors=True)


@contextmanager
def private_broker() -> Iterator[str]:
    """A fresh broker on free ports for one benchmark run; stopped and wiped after."""
    with private_broker_info() as info:
        yield info.bootstrap


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU of another process (all its threads, and its reaped children)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # After "pid (comm)": fields[11..14] are utime, stime, cutime, cstime in clock ticks.
    ticks = sum(int(f) for f in fields[11:15])
    return ticks / os.sysconf("SC_CLK_TCK")


def cpu_by_thread(pid: int, kind: Callable[[str], str]) -> dict[str, float]:
    """User + system CPU seconds of another process's live threads, summed by
    ``kind(thread name)``. Threads that ended are missing, so compare two readings of
    long-lived threads only."""
    out: dict[str, float] = {}
    tck = os.sysconf("SC_CLK_TCK")
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            head, _, tail = (task / "stat").read_text().rpartition(")")
        except OSError:  # the thread ended meanwhile
            continue
        fields = tail.split()
        k = kind(head.partition("(")[2])
        out[k] = out.get(k, 0.0) + (int(fields[11]) + int(fields[12])) / tck
    return out


def thread_cpu_seconds(pid: int) -> dict[str, float]:
    """:func:`cpu_by_thread` by kind: ``rdkafka`` (librdkafka's own threads, named
    ``rdk:*``: protocol, batching, CRC, fetch parsing) and ``python`` (every other
    thread: the stages, the GIL's holders)."""
    found = cpu_by_thread(pid, lambda name: "rdkafka" if name.startswith("rdk:") else "python")
    return {"rdkafka": 0.0, "python": 0.0} | found


def process_rss_mb(pid: int) -> float:
    """Current resident memory of another process, MiB."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(status.split("VmRSS:")[1].split()[0]) / 1024


def write_report(
    name: str,
    rows: list[dict[str, Any]],
    extra: dict[str, Any] | None = None,
    path: Path | None = None,
) -> Path:
    """Write ``bench/results/<name>.json`` (or ``path``): the rows plus the machine, and
    ``extra``'s keys."""
    if path is None:
        RESULTS.mkdir(exist_ok=True)
        path = RESULTS / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    report = {"machine": machine(), "results": rows} | (extra or {})
    path.write_text(json.dumps(report, indent=2) + "\n")
    return path

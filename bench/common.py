"""Shared benchmark plumbing: a private real broker, machine facts, JSON reports."""

from __future__ import annotations

import json
import os
import platform
import resource
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from streams.config import Settings
from streams.localkafka import BrokerSpec, start, stop

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


@contextmanager
def private_broker() -> Iterator[str]:
    """A fresh broker on free ports for one benchmark run; stopped and wiped after."""
    import socket

    def free() -> int:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port: int = s.getsockname()[1]
            return port

    settings = Settings()
    data = Path(tempfile.mkdtemp(prefix="cs-bench-"))
    spec = BrokerSpec(data, settings.cache_dir, settings.kafka_version, free(), free(), heap="1g")
    info = start(spec)
    try:
        yield info.bootstrap
    finally:
        stop(spec)


def write_report(name: str, rows: list[dict[str, Any]]) -> Path:
    """Write ``bench/results/<name>.json``: the rows plus the machine."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"machine": machine(), "results": rows}, indent=2) + "\n")
    return path

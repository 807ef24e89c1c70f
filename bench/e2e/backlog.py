"""The throughput phase: a backlog published to frozen workers, then timed until through.

``run_backlog`` freezes the settled, idle workers (SIGSTOP) while the platforms publish,
lets them go (SIGCONT) and counts their CPU (/proc/<pid>/stat) and the broker's from then
until every stage has committed everything: one ``end_to_end`` row (events/s per worker
core and per wall second, the workers' metrics' counts). ``combine`` adds the rows of a
backlog timed in parts into one. With ``--py-spy`` a ``Spy`` samples the first worker over
the timed window and ``summarize_profile`` puts where its samples were into the row.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from bench.common import process_cpu_seconds, thread_cpu_seconds
from bench.e2e.data import Rec, producers, publish
from bench.e2e.probe import Probe, wait_drained
from bench.e2e.worker import Worker, commits, merged_metrics, metric_sum

COUNTS = (
    *("events", "wall_s", "worker_cpu_s", "broker_cpu_s", "publish_s", "accepted", "rejected"),
    *("profile_updates", "feed_records_with_data", "audit_records"),
)


class Spy:
    """``py-spy record`` sampling a worker (``--py-spy``): collapsed stacks to ``out``."""

    def __init__(self, binary: str, worker: Worker, out: Path) -> None:
        self.out = out
        cmd = [binary, "record", "--pid", str(worker.pid), "--rate", "100", "--nonblocking"]
        cmd += ["--threads", "--format", "raw", "--output", str(out)]
        self.proc = worker.children.popen(cmd, dict(os.environ), out.with_suffix(".log"))

    def stop(self) -> dict[str, Any]:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        return summarize_profile(self.out)


def summarize_profile(path: Path, top: int = 25) -> dict[str, Any]:
    """Where the samples of a py-spy raw profile were: by thread, by leaf function (self)
    and by source file (inclusive, each file once per sample)."""
    threads: dict[str, int] = {}
    leaves: dict[str, int] = {}
    files: dict[str, int] = {}
    total = 0
    for line in path.read_text().splitlines() if path.exists() else []:
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        if len(frames) < 2 or not count.isdigit():
            continue
        n = int(count)
        total += n
        thread = frames[0].split(": ", 1)[-1]
        threads[thread] = threads.get(thread, 0) + n
        leaves[frames[-1]] = leaves.get(frames[-1], 0) + n
        for f in {fr.rpartition("(")[2].split(":")[0] for fr in frames[1:]}:
            files[f] = files.get(f, 0) + n

    def share(d: dict[str, int], k: int) -> list[list[Any]]:
        ranked = sorted(d.items(), key=lambda kv: -kv[1])[:k]
        return [[name, round(100 * n / max(total, 1), 1)] for name, n in ranked]

    return {
        "samples": total,
        "note": "py-spy record --nonblocking --threads at 100 Hz over the timed backlog "
        "run; shares in % of active (non-idle) thread samples",
        "threads_pct": share(threads, 20),
        "self_pct": share(leaves, top),
        "files_inclusive_pct": share(files, top),
        "raw": str(path),
    }


def run_backlog(
    workers: list[Worker],
    probe: Probe,
    broker_pid: int,
    backlog: list[Rec],
    platforms: list[str],
    timeout: float,
    spy: tuple[str, Path] | None = None,
) -> dict[str, Any]:
    """With ``workers`` running, settled and idle: freeze them (SIGSTOP), publish
    ``backlog``, let them go (SIGCONT) and time them until every stage is through; their
    CPU is counted over the same window. Freezing keeps the publishing platforms from
    competing for the 2 cores and the start-up (restores) out of the window."""
    records = len(backlog)
    rss0 = sum(w.rss_mb() for w in workers)
    prods = producers(probe.bootstrap, platforms, **{"linger.ms": 50})
    m0 = merged_metrics(workers)
    for w in workers:  # frozen while the platforms publish: a real backlog, warm workers
        os.kill(w.pid, signal.SIGSTOP)
    try:
        publish_s = publish(prods, backlog)
    finally:
        for w in workers:
            os.kill(w.pid, signal.SIGCONT)
    spying = Spy(spy[0], workers[0], spy[1]) if spy else None
    cpu0, broker0 = sum(w.cpu() for w in workers), process_cpu_seconds(broker_pid)
    threads0 = [thread_cpu_seconds(w.pid) for w in workers]
    t0 = time.monotonic()
    t1 = wait_drained(probe, workers, timeout, f"backlog with {len(workers)} worker(s)")
    cpu = sum(w.cpu() for w in workers) - cpu0
    threads1 = [thread_cpu_seconds(w.pid) for w in workers]
    by_kind = {
        kind: round(sum(t1[kind] - t0[kind] for t0, t1 in zip(threads0, threads1, strict=True)), 2)
        for kind in ("python", "rdkafka")
    }
    broker = process_cpu_seconds(broker_pid) - broker0
    profile = spying.stop() if spying else None
    wall = t1 - t0
    m = merged_metrics(workers)
    return {
        "stage": "end_to_end",
        "workers": 1,  # the caller says when it timed more
        "processes": len(workers),
        "load_share": 1.0,
        "events": records,
        "events_per_s_per_core": round(records / cpu),
        "events_per_s_wall": round(records / wall),
        "wall_s": round(wall, 2),
        "worker_cpu_s": round(cpu, 2),
        "worker_cores_used": round(cpu / wall, 2),
        "worker_cpu_s_by_thread": by_kind,
        "broker_cpu_s": round(broker, 2),
        "transactions": commits(m0, m, wall),
        "publish_s": round(publish_s, 2),
        "rss_mb_at_start": round(rss0, 1),
        "accepted": int(metric_sum(m, "creditstream_events_forwarded_total")),
        "rejected": int(metric_sum(m, "creditstream_rejects_total")),
        "profile_updates": int(metric_sum(m, "creditstream_profile_updates_total")),
        "feed_records_with_data": int(metric_sum(m, "creditstream_feed_deliveries_total")),
        "audit_records": int(metric_sum(m, "creditstream_audit_records_total")),
        **({"profile": profile} if profile else {}),
        "p50_ms": None,
        "p95_ms": None,
        "p99_ms": None,
    }


def combine(segments: list[dict[str, Any]]) -> dict[str, Any]:
    """One row for the whole backlog from its timed segments (counts and times add up)."""
    row = dict(segments[-1])
    if len(segments) == 1:
        return row
    for key in COUNTS:
        row[key] = round(sum(s[key] for s in segments), 2)
    row["events"] = int(row["events"])
    row["events_per_s_per_core"] = round(row["events"] / row["worker_cpu_s"])
    row["events_per_s_wall"] = round(row["events"] / row["wall_s"])
    row["worker_cores_used"] = round(row["worker_cpu_s"] / row["wall_s"], 2)
    row["rss_mb_at_start"] = segments[0]["rss_mb_at_start"]
    row["worker_cpu_s_by_thread"] = {
        kind: round(sum(s["worker_cpu_s_by_thread"][kind] for s in segments), 2)
        for kind in ("python", "rdkafka")
    }
    row["segments"] = [{k: s[k] for k in ("events", "wall_s", "worker_cpu_s")} for s in segments]
    row["segments_note"] = (
        "published and timed in two parts; in between the worker was stopped while the "
        "baseline ran on the first part's records, then started again and settled"
    )
    return row

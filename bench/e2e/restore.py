"""The restore phase: SIGKILL a worker, start it again, time it back to ready.

The new process has the same state dir (so the same static group membership) and must
restore every borrower from the changelog (exchange.borrower-state). ``run_restore``
returns the restore figures that go into the 1-worker row: the borrower stage's own
restore seconds and records (from its log and metrics), restart-to-/ready seconds, and
how long Faust's own group join took (from the log's timestamps).
"""

from __future__ import annotations

import re
import time
from datetime import datetime
from typing import Any

from bench.e2e.worker import BenchError, Worker, borrowers_held, merged_metrics, metric_sum

RESTORED = re.compile(r"borrower assigned .*restored (\d+) records in ([0-9.]+)s")


def run_restore(workers: list[Worker], borrowers: int, timeout: float = 180) -> dict[str, Any]:
    """SIGKILL ``workers`` (one worker's processes), start them again, time them until
    ready with the borrower state back (``borrowers``: how many they should hold,
    reported beside what they say they hold)."""
    worker = next(w for w in workers if "borrower assigned" in w.assigned_lines())
    log_mark = worker.log_size()
    for w in workers:
        w.kill()
    began = time.monotonic()
    for w in workers:
        w.start()
    while True:
        for w in workers:
            w.check_alive()
        m = merged_metrics(workers)
        held = borrowers_held(m)
        # The borrower stage logs its assignment once its state is back; the count of
        # borrowers held is exact in memory, RocksDB's estimate on disk.
        if RESTORED.search(worker.log_since(log_mark)) and all(w.ready() for w in workers):
            took = time.monotonic() - began
            break
        if time.monotonic() - began > timeout:
            raise BenchError(f"restore: not ready after {timeout:.0f}s\n{worker.log_tail()}")
        time.sleep(0.1)
    restored = int(metric_sum(m, "creditstream_recovery_restored_total", stage="borrower"))
    text = worker.log_since(log_mark)
    found = RESTORED.findall(text)
    stage_s = sum(float(s) for _, s in found) if found else took
    stamps = {what: _stamp(text, what) for what in ("(Re-)joining group", "Joined group")}
    joined, joining = stamps["Joined group"], stamps["(Re-)joining group"]
    return {
        "restore_s": round(stage_s, 2),
        "restore_per_s": round(restored / stage_s) if stage_s else None,
        "restored_records": restored,
        "restored_borrowers": int(held),
        "expected_borrowers": borrowers,
        "restart_to_ready_s": round(took, 2),
        "faust_group_join_s": round(joined - joining, 2) if joined and joining else None,
        "restore_note": "restore_per_s = borrower changelog records / the borrower stage's "
        "restore seconds (worker log; they include reading the audit chains' heads); "
        "restart_to_ready_s: SIGKILL + new process + "
        "Faust start + Faust's own consumer group join (faust_group_join_s; the stages "
        "start after it) + every stage restored, to /ready 200",
    }


def _stamp(log: str, what: str) -> float | None:
    """Unix time of the first worker log line containing ``what``."""
    for line in log.splitlines():
        if what in line and line.startswith("["):
            try:
                at = datetime.strptime(line[1:24], "%Y-%m-%d %H:%M:%S,%f")
            except ValueError:
                continue
            return at.timestamp()
    return None

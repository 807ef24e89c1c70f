"""The benchmark's report: progress lines, the JSON's summary and data, the printed summary.

``line`` is one row as a progress line. ``summarize`` turns the phases' rows into the
report written to ``end_to_end.json``: ``summary`` (the headline figures, taken from the
rows), ``data`` (what was run: sizes, settings, the machine's load) and ``results`` (the
rows, each completed with every key the profile benchmark's rows have). ``render`` is
the few lines printed after the JSON is written, from the JSON as read back.
"""

from __future__ import annotations

import argparse
import os
from typing import Any


def line(row: dict[str, Any]) -> str:
    """The row's headline figures as one progress line (those it has)."""
    keys = [
        *("stage", "workers", "load_share", "events_per_s_per_core", "events_per_s_wall"),
        *("wall_s", "worker_cpu_s", "broker_cpu_s", "sent_events_per_s", "latency_samples"),
        *("p50_ms", "p95_ms", "p99_ms"),
    ]
    return "  " + ", ".join(f"{k}={row[k]}" for k in keys if row.get(k) is not None)


def summarize(
    rows: list[dict[str, Any]], args: argparse.Namespace, records: int, covered: int
) -> dict[str, Any]:
    """The report (``summary``, ``data``, ``results``) of ``rows``, the first of which is
    the 1-worker whole-backlog row; ``records`` backlog records, ``covered`` borrowers
    subscribed by some bank."""
    one = rows[0]  # 1 worker, the whole backlog
    for r in rows:  # every row carries every key of the profile benchmark
        for key in ("rss_mb", "borrowers", "restore_per_s", "p50_ms", "p95_ms", "p99_ms"):
            r.setdefault(key, None)
    at = {
        r["load_share"]: r for r in rows if r["stage"] == "end_to_end" and r.get("latency_samples")
    }
    two = next((r for r in rows if r["workers"] == 2), None)
    return {
        "summary": {
            "events_per_s_per_core": one["events_per_s_per_core"],
            "events_per_s_wall_1_worker": one["events_per_s_wall"],
            "events_per_s_wall_2_workers": two["events_per_s_wall"] if two else None,
            "ratio_to_obvious_faust": one.get("ratio_to_obvious_faust"),
            "baseline_finished": next(
                (r["complete"] for r in rows if r["stage"].startswith("faust")), None
            ),
            "latency_ms_at_load": {
                f"{s:.0%}": {"p50": r["p50_ms"], "p95": r["p95_ms"], "p99": r["p99_ms"]}
                | {"p50_by_third": r["p50_ms_by_third"], "events_per_s": r["sent_events_per_s"]}
                | {"by_stage_ms": r.get("by_stage_ms")}
                for s, r in sorted(at.items())
            },
            "rss_mb_per_million_borrowers": one.get("rss_mb_per_million_borrowers"),
            "restore_per_s": one.get("restore_per_s"),
        },
        "data": {
            "backlog_records": records,
            "borrowers": args.borrowers,
            "platforms": 6,
            "bad_share": args.bad_share,
            "event_times": f"simulator, the last {args.period_days} days up to the run",
            "banks": args.banks,
            "bank_share": args.bank_share,
            "subscribed_borrowers": covered,
            "partitions": args.partitions,
            "bank_partitions": args.bank_partitions or args.partitions,
            "seed": args.seed,
            "quick": args.quick,
            "worker_env": [
                "CREDITSTREAM_SESSION_TIMEOUT_MS=60000",
                "CREDITSTREAM_TRANSACTION_TIMEOUT_MS=60000",
                *args.worker_env,
            ],
            "load_average_at_start": args.load_at_start,
            "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        },
        "results": rows,
    }


def render(report: dict[str, Any]) -> str:
    """A few lines for the terminal from a written report."""
    s = report["summary"]
    two = s["events_per_s_wall_2_workers"]
    lines = [
        "",
        "end to end (ingress -> borrower: profiles, feeds + audit), real broker, "
        f"{report['machine']['cores']} cores; {report.get('hot_path', 'hot path: ?')}:",
        f"  {s['events_per_s_per_core']} events/s per worker core; "
        f"wall {s['events_per_s_wall_1_worker']}/s with 1 worker"
        + (f", {two}/s with 2" if two else ""),
    ]
    if s["ratio_to_obvious_faust"]:
        lines.append(
            f"  x{s['ratio_to_obvious_faust']} the obvious Faust way (events/s per core, "
            "same records)"
        )
    for load, q in s["latency_ms_at_load"].items():
        lines.append(
            f"  event-to-feed at {load} of max: p50 {q['p50']} ms, p95 {q['p95']} ms, "
            f"p99 {q['p99']} ms"
        )
    lines.append(
        f"  RSS {s['rss_mb_per_million_borrowers']} MB per million borrowers (extrapolated)"
        + (f"; restore {s['restore_per_s']} records/s" if s["restore_per_s"] else "")
    )
    return "\n".join(lines)

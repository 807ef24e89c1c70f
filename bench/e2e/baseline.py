"""The obvious-Faust baseline phase: ``bench/faust_e2e_baseline.py`` on the same records.

``run_faust`` runs on the broker the real worker used, after the worker has processed the
first backlog part and been stopped: it creates the baseline's own output topics, writes
the subscriptions (pseudonymized as the worker would) to a JSON file the baseline
preloads, starts the baseline as a child process reading the platforms' ingest topics
from the start, and turns the figures it writes into a ``faust_obvious_end_to_end`` row
(events/s per core and per wall second, counts, RSS, whether it finished in time).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench.e2e.data import Sub, ingest_topics
from bench.e2e.worker import HMAC_KEY, BenchError, Children
from streams.domain.privacy import Pseudonymizer
from streams.runtime import provision
from streams.settings import KafkaConf

SCRIPT = Path(__file__).resolve().parents[1] / "faust_e2e_baseline.py"


def run_faust(
    bootstrap: str,
    args: argparse.Namespace,
    platforms: list[str],
    banks: list[str],
    plan: list[Sub],
    expires_ms: int,
    records: int,
    children: Children,
) -> dict[str, Any]:
    """Run the baseline on the first ``records`` records published to ``bootstrap``
    (at most ``--faust-seconds``) and return its row."""
    conf: KafkaConf = {"bootstrap.servers": bootstrap}
    names = ["events", "profiles", "rejected", "audit"] + [f"feed-{b}" for b in banks]
    provision.ensure(
        conf, [provision.TopicSpec(f"bench.faust-{n}", args.partitions, {}) for n in names]
    )
    pseudo = Pseudonymizer({1: HMAC_KEY}, 1)
    subs: dict[str, list[list[Any]]] = {}
    now = int(time.time() * 1000)
    for bank, nid, ref, consent, purpose in plan:
        subs.setdefault(pseudo.borrower_id(nid), []).append(
            [bank, ref, consent, purpose, expires_ms, now]
        )
    subs_file = args.workdir / "faust-subs.json"
    subs_file.write_text(json.dumps(subs))
    out = args.workdir / "faust-e2e.json"
    env = dict(os.environ) | {
        "BENCH_EVENTS": str(records),
        "BENCH_SECONDS": str(args.faust_seconds),
        "BENCH_OUT": str(out),
        "BENCH_APP_ID": f"bench-faust-e2e-{uuid.uuid4().hex[:6]}",
        "BENCH_BOOTSTRAP": bootstrap,
        "BENCH_DATADIR": tempfile.mkdtemp(prefix="faust-", dir=args.workdir),
        "BENCH_PARTITIONS": str(args.partitions),
        "BENCH_INGEST_TOPICS": ",".join(ingest_topics(platforms)),
        "BENCH_BANKS": ",".join(banks),
        "BENCH_SUBS": str(subs_file),
        "BENCH_HMAC_KEY": HMAC_KEY,
    }
    log = args.workdir / "faust-e2e.log"
    cmd = [sys.executable, str(SCRIPT), "worker", "-l", "warn"]
    proc = children.popen(cmd, env, log)
    try:
        proc.wait(args.faust_seconds + 240)
    except subprocess.TimeoutExpired:
        proc.kill()
    if not out.exists():
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
        raise BenchError(f"the Faust baseline wrote nothing:\n{tail}")
    ran: dict[str, Any] = json.loads(out.read_text())
    return {
        "stage": "faust_obvious_end_to_end",
        "subset": f"first {records} backlog records",
        "workers": 1,
        "load_share": 1.0,
        "events": ran["events"],
        "complete": ran["complete"],
        "events_per_s_per_core": round(ran["events"] / ran["cpu_s"]),
        "events_per_s_wall": round(ran["events"] / ran["wall_s"]),
        "wall_s": round(ran["wall_s"], 2),
        "worker_cpu_s": round(ran["cpu_s"], 2),
        "accepted": ran["accepted"],
        "rejected": ran["rejected"],
        "profiles_out": ran["profiles_out"],
        "feed_records": ran["feed"],
        "audit_records": ran["audit"],
        "rss_mb": ran["rss_mb"],
        "borrowers": ran["borrowers"],
        "p50_ms": None,
        "p95_ms": None,
        "p99_ms": None,
        "restore_per_s": None,
        "note": "per event: decode, validate, pseudonymize, dedup table, repartition send, "
        "profile table read/write (RocksDB + changelog), await send of profile, feed and "
        "audit records; consents preloaded (bench/faust_e2e_baseline.py)",
    }

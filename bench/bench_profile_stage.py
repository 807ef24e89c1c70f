"""End-to-end benchmark of the borrower stage on a real broker it starts itself.

Usage: ``python bench/bench_profile_stage.py [--events 300000] [--borrowers 100000]
[--old-events] [--faust-seconds 60] [--skip-faust] [--out PATH]``

1. Starts a private KRaft broker (``streams.localkafka``) under a temp dir and prepares
   the borrower stage's topics as a worker does (``provision.prepare_stage``: every
   exchange topic, among them exchange.consents, exchange.audit and
   exchange.borrower-state, with the co-partitioning checked).
2. Pre-loads ``--events`` encoded ExchangeEvents (the synthetic mix of
   ``bench_profile.py``: 55% activity, 45% loan, ~10% out of order, ~1% duplicates, over
   the 90 days before now so that windows are populated when the stage reads them;
   ``--old-events``: ending in January 2026, as the first runs had it) onto
   exchange.events, keyed by borrower_id.
3. ``profile_stage`` (the row keeps its name, comparable with the profile stage's before
   the profile and fan-out stages were fused): runs
   ``streams.stages.borrower.stage.BorrowerStage`` in this process until every event is
   consumed, folded and committed. exchange.consents stays empty, so no bank subscribes
   and nothing is delivered or audited: per batch the transaction carries
   exchange.profiles, exchange.profile-updates and the state records (as the profile
   stage's did, now in the borrower stage's state record). Events/s per core = events /
   (wall s x 1 core: one Python process), CPU seconds from getrusage (librdkafka's
   threads included) and per event (``cpu_us_per_event``: less sensitive than wall time
   to other load on the machine; the broker is another process); p50/p99 of the
   per-batch transaction time; RSS; borrowers held.
   Then a fresh stage with the same group restores the state from
   exchange.borrower-state: restore_per_s = changelog records replayed per second
   (``restore_s`` includes reading the audit chains' heads, part of the stage's recovery).
4. ``faust_obvious`` and ``faust_take``: the Faust baselines (``faust_baseline.py``),
   each for at most ``--faust-seconds``, then their table recovery. With
   ``--skip-faust`` their rows already in ``--out`` are kept (marked ``"rerun": false``).

Writes a list of dicts (one per stage) plus the machine to ``--out``. Never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from statistics import quantiles
from typing import Any

from confluent_kafka import Producer

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_profile import make_events

from bench.common import calibration_us
from streams import topics
from streams.domain.profile.windows import DEFAULT_CONFIG
from streams.domain.validation import to_avro
from streams.localkafka import BrokerSpec, start, stop
from streams.runtime import provision
from streams.runtime.registry import codec_for
from streams.settings import KAFKA_VERSION, KafkaConf, Settings
from streams.stages.borrower.batch import Outcome
from streams.stages.borrower.stage import BorrowerStage
from streams.wire.schemas import EXCHANGE_EVENT
from tests.integration.kafka_helpers import free_port

PARTITIONS = 4
HERE = Path(__file__).resolve().parent


def rss_mb() -> float:
    status = Path("/proc/self/status").read_text()
    return round(int(status.split("VmRSS:")[1].split()[0]) / 1024, 1)


def cpu_s() -> float:
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime


def machine() -> dict[str, Any]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "kafka": KAFKA_VERSION,
        "platform": platform.platform(),
    }


def preload(bootstrap: str, n: int, borrowers: int, old_events: bool = False) -> int:
    codec = codec_for(None)
    # By default the events span the 90 days before now: the stage reads profiles at
    # the wall clock, so every window is populated (with --old-events, as the first
    # runs had it, they ended in January 2026 and most windows were empty).
    events = make_events(n, borrowers, end_ms=None if old_events else int(time.time() * 1000))
    producer = Producer(
        {"bootstrap.servers": bootstrap, "linger.ms": 20}  # aiokafka lacks lz4 here
        | {"partitioner": "murmur2_random", "queue.buffering.max.messages": 2_000_000}
    )
    for ev in events:
        producer.produce(
            topics.EXCHANGE_EVENTS,
            codec.encode(EXCHANGE_EVENT, to_avro(ev)),
            ev.borrower_id.encode(),
        )
        producer.poll(0)
    producer.flush(120)
    return len(events)


def settings_for(bootstrap: str, app_id: str, state_dir: Path, hot: int) -> Settings:
    return Settings(
        bootstrap=bootstrap,
        app_id=app_id,
        partitions=PARTITIONS,
        state_dir=state_dir,
        borrower_hot_states=hot,
    )


def thread_cpu_s() -> dict[str, float]:
    """CPU seconds of this process's threads so far, by kind: ``python`` (the stage loop
    and its commit helper; the main thread sleeps), ``librdkafka`` (its ``rdk:``
    threads: compression, protocol, network) and ``rocksdb`` (the state stores'
    flush and compaction threads). Linux ``/proc``; empty elsewhere."""
    out: dict[str, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for task in Path("/proc/self/task").glob("*"):
        try:
            stat = (task / "stat").read_text()
        except OSError:  # the thread ended meanwhile
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        utime, stime = stat[stat.rindex(")") + 2 :].split()[11:13]
        kind = (
            "librdkafka"
            if comm.startswith("rdk:")
            else "rocksdb"
            if comm.startswith("rocksdb")
            else "python"
        )
        out[kind] = out.get(kind, 0.0) + (int(utime) + int(stime)) / tick
    return out


def run_stage(settings: Settings, total: int) -> dict[str, Any]:
    stage = BorrowerStage(settings, codec_for(None), DEFAULT_CONFIG)
    lat: list[float] = []
    clock: dict[str, float] = {}

    def hook(outcome: Outcome, events: int, seconds: float) -> None:
        clock.setdefault("first", time.perf_counter() - seconds)
        lat.append(seconds)

    stage.on_batch = hook
    thread = threading.Thread(target=stage.run, daemon=True)
    cpu0, threads0 = cpu_s(), thread_cpu_s()
    thread.start()
    while stage.stats.events < total and thread.is_alive():
        time.sleep(0.05)
    end = time.perf_counter()
    cpu = cpu_s() - cpu0
    threads = thread_cpu_s()
    by_kind = {k: round(v - threads0.get(k, 0.0), 2) for k, v in threads.items()}
    borrowers, rss = stage.store.size(), rss_mb()
    stage.stop()
    thread.join(30)
    wall = end - clock["first"]
    q = quantiles(lat, n=100)
    return {
        "stage": "profile_stage",
        "events": stage.stats.events,
        "events_per_s_per_core": round(stage.stats.events / wall),
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "p50_ms": round(q[49] * 1000, 2),
        "p99_ms": round(q[98] * 1000, 2),
        "batches": stage.stats.batches,
        "rss_mb": rss,
        "borrowers": borrowers,
        "hot_states": settings.borrower_hot_states,
        "profiles_out": stage.stats.profiles,
        "updates_out": stage.stats.updates,
        "cpu_us_per_event": round(cpu / stage.stats.events * 1e6, 1),
        "cpu_s_by_thread": by_kind,
        "loadavg_1m_at_end": round(os.getloadavg()[0], 2),
        # The VM's speed drifts (host contention): ~0.5 us when it is fast.
        "calibration_us_sum_range_100": calibration_us(),
    }


def run_restore(settings: Settings) -> dict[str, Any]:
    stage = BorrowerStage(settings, codec_for(None), DEFAULT_CONFIG)
    thread = threading.Thread(target=stage.run, daemon=True)
    thread.start()
    while not (stage.ready.is_set() and stage.stats.restored) and thread.is_alive():
        time.sleep(0.05)
    borrowers = stage.store.size()
    stage.stop()
    thread.join(30)
    s = stage.stats
    return {
        "restore_per_s": round(s.restored / s.restore_seconds),
        "restored_records": s.restored,
        "restored_borrowers": borrowers,
        "restore_s": round(s.restore_seconds, 2),
    }


def run_faust(bootstrap: str, mode: str, total: int, seconds: float, tmp: Path) -> dict[str, Any]:
    app_id = f"bench-faust-{mode}"
    out = tmp / f"{mode}.json"

    def worker(datadir: str, restore: bool) -> dict[str, Any]:
        env = dict(os.environ) | {
            "BENCH_MODE": mode,
            "BENCH_EVENTS": str(total),
            "BENCH_SECONDS": str(seconds),
            "BENCH_OUT": str(out),
            "BENCH_APP_ID": app_id,
            "BENCH_BOOTSTRAP": bootstrap,
            "BENCH_DATADIR": datadir,
            "BENCH_PARTITIONS": str(PARTITIONS),
            "BENCH_RESTORE": "1" if restore else "0",
        }
        cmd = [sys.executable, str(HERE / "faust_baseline.py"), "worker", "-l", "warn"]
        proc = subprocess.run(cmd, env=env, timeout=seconds + 300, check=False, capture_output=True)
        if not out.exists():
            raise RuntimeError(f"faust {mode} wrote nothing: {proc.stderr.decode()[-3000:]}")
        result: dict[str, Any] = json.loads(out.read_text())
        return result

    ran = worker(tempfile.mkdtemp(dir=tmp), restore=False)
    out.unlink()
    lat = sorted(ran["latencies_s"])
    q = quantiles(lat, n=100)
    restored = worker(tempfile.mkdtemp(dir=tmp), restore=True)  # empty datadir: recover
    return {
        "stage": f"faust_{mode}",
        "events": ran["events"],
        "events_per_s_per_core": round(ran["events"] / ran["wall_s"]),
        "wall_s": round(ran["wall_s"], 2),
        "cpu_s_incl_startup": round(ran["cpu_s"], 2),
        "p50_ms": round(q[49] * 1000, 3),
        "p99_ms": round(q[98] * 1000, 3),
        "latency_unit": "per event" if mode == "obvious" else "per take() batch",
        "rss_mb": ran["rss_mb"],
        "borrowers": restored["restored"],
        "restore_per_s": round(restored["restored"] / restored["restore_s"]),
        "restore_note": "table entries / seconds from process start to recovery completed",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--borrowers", type=int, default=100_000)
    parser.add_argument("--faust-seconds", type=float, default=60)
    parser.add_argument("--skip-faust", action="store_true")
    parser.add_argument("--hot", type=int, default=1_000_000, help="borrower_hot_states")
    parser.add_argument("--old-events", action="store_true", help="events ending Jan 2026")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "profile_stage.json")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-profile-stage-"))
    spec = BrokerSpec(
        data_dir=tmp / "broker",
        cache_dir=Settings().cache_dir,
        version=KAFKA_VERSION,
        port=free_port(),
        controller_port=free_port(),
        heap="2g",
    )
    info = start(spec)
    results: list[dict[str, Any]] = []
    try:
        conf: KafkaConf = {"bootstrap.servers": info.bootstrap}
        # As the worker does before the stage starts (the stage does it again).
        provision.prepare_stage(conf, BorrowerStage.name, PARTITIONS)
        # The Faust baselines' output topic (the broker does not auto-create topics).
        provision.ensure(conf, [provision.TopicSpec("bench.faust-profiles", PARTITIONS, {})])
        total = preload(info.bootstrap, args.events, args.borrowers, args.old_events)
        print(f"pre-loaded {total} events on Apache Kafka {info.version}", flush=True)
        settings = settings_for(info.bootstrap, "bench-stage", tmp / "state", args.hot)
        row = run_stage(settings, total)
        row |= run_restore(settings)
        print(row, flush=True)
        results.append(row)
        if not args.skip_faust:
            for mode in ("obvious", "take"):
                row = run_faust(info.bootstrap, mode, total, args.faust_seconds, tmp)
                print(row, flush=True)
                results.append(row)
    finally:
        stop(spec)
    if args.skip_faust and args.out.exists():  # keep the baselines measured before
        kept = json.loads(args.out.read_text())
        results += [r | {"rerun": False} for r in kept if str(r["stage"]).startswith("faust")]
    report = {"results": results, "machine": machine(), "events": total}
    report["results"] = [r | {"machine": r.get("machine", report["machine"])} for r in results]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report["results"], indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

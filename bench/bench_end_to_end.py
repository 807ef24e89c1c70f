"""End-to-end benchmark on a real broker: platform events -> ingress -> profiles -> fan-out
-> bank feeds + audit, through real ``creditstream worker`` processes.

    .venv/bin/python -m bench.bench_end_to_end            # the real run, ~12-15 min on 2 cores
    .venv/bin/python -m bench.bench_end_to_end --quick    # smoke test, ~2 min

Data: the seeded simulator (``streams.simulator``) with CURRENT event times (the last
``--period-days`` up to now, so the 7/30/90-day windows are populated), ``--bad-share``
bad records of every reason, ``--borrowers`` borrowers on 6 platforms. The first
``--events`` records are the backlog; later ones (newer) feed the paced latency phases.
``--banks`` banks each subscribe ``--bank-share`` of the borrowers through the bank SDK
(overlapping, so every borrower has 1-2 consenting banks): fan-out and audit do real work.

Phases (each worker is a separate process; its CPU is read from /proc/<pid>/stat):

1. broker A, 1 worker: the subscriptions are processed first (not timed). Then the
   worker, settled (every stage assigned and restored) and idle, is frozen (SIGSTOP)
   while the platforms publish the backlog, let go (SIGCONT) and timed until every
   stage's committed offsets reach its inputs' ends: ``events_per_s_per_core`` =
   backlog records / worker CPU seconds in that window; ``events_per_s_wall`` = records
   / wall seconds (the broker shares the 2 cores). The backlog goes in two parts: the
   first ``--faust-events`` records, then the rest. (The workers run with 60 s session
   and transaction timeouts so that being frozen is not taken for a crash.)
2. between the two parts, with the worker stopped, the obvious-Faust baseline
   (``bench/faust_e2e_baseline.py``, a subprocess) runs on the first part's records:
   per-event decode, validate, pseudonymize, dedup table, profile table (RocksDB +
   changelog), ``await send`` of every profile, feed and audit record, measured the same
   way. ``ratio_to_obvious_faust`` = the real worker's events/s per core on those same
   records (the ``subset`` row) / the baseline's.
3. latency: against the caught-up worker the platforms publish at ``--loads`` x the
   measured wall rate for ``--latency-seconds`` each; event-to-feed latency = time the
   bench's read_committed bank consumer received the feed record - the record's
   ``ingested_at`` (the platform record's Kafka timestamp, set when the platform
   produced it), so it includes the producer's linger and every transaction commit.
   ``by_stage_ms`` splits it by where the event had got to (each stage's output
   produced), ``p50_ms_by_third`` shows whether the worker kept up.
4. memory: the worker's RSS / borrowers it holds, extrapolated linearly to 1 M borrowers.
5. restore: SIGKILL the worker, start it again (same state dir, so the same static
   group membership), time until /ready answers 200 with every profile restored.
6. broker B, 2 workers (same app id, own state dirs, both settled): the whole backlog,
   timed the same way.

Writes ``bench/results/end_to_end.json`` (``--quick``: a file in the temp dir unless
``--out``) and prints a summary. Nothing is asserted. Every broker and worker started
is stopped on exit, also on Ctrl-C or SIGTERM; the work dir is deleted unless ``--keep``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import closing, contextmanager
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec
from prometheus_client.parser import text_string_to_metric_families

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    free_port,
    percentile,
    private_broker_info,
    process_cpu_seconds,
    process_rss_mb,
    write_report,
)
from streams import provision, topics
from streams.codec import codec_for
from streams.config import KafkaConf, Settings
from streams.localkafka import BrokerInfo
from streams.privacy import Pseudonymizer
from streams.profiles.records import PROFILE_UPDATE
from streams.schemas import EXCHANGE_EVENT, FEED_RECORD
from streams.sdk.producer import PlatformProducer
from streams.sdk.subscriber import BankSubscriber
from streams.simulator import SimConfig, generate, national_ids, platform_names
from streams.simulator_life import DAY_MS
from streams.validation import to_epoch_ms

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
APP_ID = "bench-e2e"
HMAC_KEY = "bench-end-to-end-hmac-key-0123456789"
BANK_NAMES = ("nordbank", "alpbank", "fjordbank", "baltbank", "coastbank", "ridgebank")
PURPOSES = ("CREDIT_APPLICATION", "ACCOUNT_REVIEW", "COLLECTIONS", "FRAUD_PREVENTION")
Rec = tuple[str, str, bytes, bytes]  # platform, topic kind, key, value
Sub = tuple[str, str, str, str, str]  # bank, national id, customer_ref, consent_ref, purpose


class BenchError(RuntimeError):
    """The benchmark could not measure what it meant to (says why)."""


# -- processes -----------------------------------------------------------------------


REAPER = r"""
import os, shutil, signal, sys, time
parent, registry = int(sys.argv[1]), sys.argv[2]
while os.getppid() == parent:
    time.sleep(0.5)
try:
    lines = open(registry).read().splitlines()
except OSError:
    sys.exit(0)
for line in lines:
    kind, _, rest = line.partition(" ")
    if kind == "pid":
        pid, start = rest.split()
        try:
            if open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[19] == start:
                os.kill(int(pid), signal.SIGKILL)
        except (OSError, IndexError, ValueError):
            pass
time.sleep(1)
for line in lines:
    kind, _, rest = line.partition(" ")
    if kind == "dir":
        shutil.rmtree(rest, ignore_errors=True)
"""


class Reaper:
    """Last resort if this process dies without cleaning up (SIGKILL, a crash): a
    detached watcher SIGKILLs every registered process (still the same process: its
    start time is checked) and deletes every registered dir. ``disarm`` after cleanup."""

    def __init__(self, workdir: Path) -> None:
        self.registry = workdir / "reaper.txt"
        self.add_dir(str(workdir))
        subprocess.Popen(
            [sys.executable, "-c", REAPER, str(os.getpid()), str(self.registry)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def _add(self, line: str) -> None:
        with open(self.registry, "a") as f:
            f.write(line + "\n")

    def add_dir(self, path: str) -> None:
        self._add(f"dir {path}")

    def add_pid(self, pid: int) -> None:
        try:
            start = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
        except (OSError, IndexError):
            return
        self._add(f"pid {pid} {start}")

    def disarm(self) -> None:
        self.registry.unlink(missing_ok=True)


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
            p.send_signal(signal.SIGCONT)  # if it was frozen (run_backlog)
        deadline = time.monotonic() + 20
        for p in live:
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(10)


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

    def start(self) -> None:
        cmd = [sys.executable, "-m", "streams.cli", "worker", "--loglevel", "info"]
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
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

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


# -- Kafka: where every stage is -------------------------------------------------------


class Probe:
    """Committed offsets of the worker's stage groups against their inputs' ends."""

    def __init__(self, bootstrap: str, partitions: int, platforms: list[str], banks: list[str]):
        conf: KafkaConf = {"bootstrap.servers": bootstrap}
        self.bootstrap = bootstrap
        self.admin = AdminClient(conf)
        self.partitions = partitions
        ingest = [t for p in platforms for t in (topics.ingest_loans(p), topics.ingest_activity(p))]
        # (stage, its input topics, written by a transactional producer?)
        self.stages: list[tuple[str, list[str], bool]] = [
            ("ingress", ingest, False),
            ("consents", [topics.subscriptions(b) for b in banks], False),
            ("profiles", [topics.EXCHANGE_EVENTS], True),
            ("fanout", [topics.PROFILE_UPDATES, topics.CONSENTS], True),
        ]
        self.feeds = [topics.feed(b) for b in banks]
        # One idle consumer per stage group reads its committed offsets (it never
        # subscribes, so it never joins the group). Not AdminClient's
        # list_consumer_group_offsets: librdkafka 2.x can crash on its NOT_COORDINATOR
        # path (confluentinc/librdkafka#5040; it did here, on a fresh broker).
        self.readers = {
            stage: Consumer(conf | {"group.id": f"{APP_ID}-{stage}", "enable.auto.commit": False})
            for stage, _, _ in self.stages
        }

    def close(self) -> None:
        for reader in self.readers.values():
            reader.close()

    def _tps(self, names: list[str]) -> list[TopicPartition]:
        return [TopicPartition(t, p) for t in names for p in range(self.partitions)]

    def ends(self, names: list[str]) -> dict[tuple[str, int], int]:
        request = {tp: OffsetSpec.latest() for tp in self._tps(names)}
        futures = self.admin.list_offsets(request, request_timeout=10)
        return {(tp.topic, tp.partition): f.result(15).offset for tp, f in futures.items()}

    def committed(self, stage: str, names: list[str]) -> dict[tuple[str, int], int]:
        found = self.readers[stage].committed(self._tps(names), timeout=10)
        return {(tp.topic, tp.partition): tp.offset for tp in found}

    def behind(self) -> str:
        """ "" when every stage has committed everything upstream has written, else who
        lags. Upstream first, so a downstream topic's end is final when it is read. A
        transactional input ends with a commit marker, which nobody commits past."""
        for stage, names, transactional in self.stages:
            try:
                done, ends = self.committed(stage, names), self.ends(names)
            except (KafkaException, FutureTimeout) as exc:  # e.g. a coordinator loading
                return f"{stage}: {exc!r}"
            lag = 0
            for tp, end in ends.items():
                if end > 0 and done.get(tp, -1) < end - (1 if transactional else 0):
                    lag += end - max(done.get(tp, 0), 0)
            if lag:
                return f"{stage}: {lag} records behind"
        return ""

    def ingress_progress(self) -> int:
        try:
            return sum(max(0, o) for o in self.committed(*self.stages[0][:2]).values())
        except KafkaException:
            return -1


def wait_drained(probe: Probe, workers: list[Worker], timeout: float, what: str) -> float:
    """Wait until every stage is through (seen twice in a row, 0.25 s apart); returns
    the monotonic time it was first seen."""
    deadline = time.monotonic() + timeout
    first: float | None = None
    why = ""
    while time.monotonic() < deadline:
        now = time.monotonic()
        for w in workers:
            w.check_alive()
        why = probe.behind()
        if not why:
            if first is not None:
                return first
            first = now
        else:
            first = None
        time.sleep(0.25)
    tails = "\n".join(f"--- {w.name}\n{w.log_tail(15)}" for w in workers)
    raise BenchError(f"{what}: not through after {timeout:.0f}s ({why})\n{tails}")


ASSIGNED = ("ingress assigned", "profiles assigned", "consents assigned", "fanout assigned")


def start_settled(workers: list[Worker], timeout: float = 180) -> None:
    """Start ``workers`` and wait until each has logged every stage's assignment (its
    state restored) and answers /ready 200: the timed phases then measure processing,
    not start-up. (/ready alone is 200 for a moment before any partition is assigned.)"""
    marks = {}
    for w in workers:
        marks[w.name] = w.log_path.stat().st_size if w.log_path.exists() else 0
        w.start()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = True
        for w in workers:
            w.check_alive()
            with open(w.log_path, "rb") as log:
                log.seek(marks[w.name])
                text = log.read().decode(errors="replace")
            done = done and all(a in text for a in ASSIGNED) and w.ready()
        if done:
            time.sleep(1)  # a rebalance between the workers settles
            return
        time.sleep(0.2)
    raise BenchError(f"workers not settled after {timeout:.0f}s:\n{workers[0].log_tail()}")


# -- data ----------------------------------------------------------------------------


def make_data(args: argparse.Namespace) -> tuple[SimConfig, list[Rec], Iterator[Rec]]:
    """The simulation, its first ``--events`` records (encoded) and an iterator of the rest."""
    config = SimConfig(
        now_ms=int(time.time() * 1000),
        borrowers=args.borrowers,
        events=args.events + args.live_events,
        bad_share=args.bad_share,
        seed=args.seed,
        period_ms=args.period_days * DAY_MS,
    )
    encode = codec_for(None).encode
    records = (
        (r.platform, r.topic_kind, r.key.encode(), r.raw or encode(r.schema_name, r.datum or {}))
        for r in generate(config, encode)
    )
    return config, list(islice(records, args.events)), records


def subscription_plan(config: SimConfig, banks: list[str], share: float) -> list[Sub]:
    """Bank i subscribes the borrowers whose spread index falls in its slice (slices
    overlap when ``share * banks > 1``)."""
    width = round(share * 1000)
    plan = []
    for i, nid in enumerate(national_ids(config, config.borrowers)):
        spot = (i * 7919) % 1000
        for b, bank in enumerate(banks):
            if (spot - b * 1000 // len(banks)) % 1000 < width:
                ref = f"{bank}-c{i}"
                plan.append((bank, nid, ref, f"{bank}-k{i}", PURPOSES[i % len(PURPOSES)]))
    return plan


def provision_all(
    bootstrap: str, args: argparse.Namespace, platforms: list[str], banks: list[str]
) -> None:
    conf: KafkaConf = {"bootstrap.servers": bootstrap}
    provision.ensure(conf, provision.exchange_topics(args.partitions))
    for p in platforms:
        provision.ensure_platform(conf, p, args.partitions)
    for b in banks:
        provision.ensure_bank(conf, b, args.partitions)


def subscribe(bootstrap: str, plan: list[Sub], expires: datetime) -> None:
    settings = Settings(bootstrap=bootstrap)
    for bank in sorted({s[0] for s in plan}):
        with BankSubscriber(bank, settings) as sub:
            for b, nid, ref, consent, purpose in plan:
                if b == bank:
                    sub.subscribe(nid, ref, consent, purpose, expires)


def producers(bootstrap: str, platforms: list[str], **extra: Any) -> dict[str, PlatformProducer]:
    settings = Settings(bootstrap=bootstrap)
    conf = {"queue.buffering.max.messages": 1_000_000} | extra
    return {p: PlatformProducer(p, settings, extra_config=conf) for p in platforms}


def publish(prods: dict[str, PlatformProducer], records: list[Rec]) -> float:
    """Send ``records`` as fast as possible and close ``prods`` (the SDK's idempotent
    producers, unchecked: bad records go out as they are); returns the seconds taken."""
    began = time.monotonic()
    for platform, kind, key, value in records:
        prods[platform].send_raw(kind, key, value)  # type: ignore[arg-type]
    for prod in prods.values():
        prod.close()
    return time.monotonic() - began


# -- phases ---------------------------------------------------------------------------


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
    for w in workers:  # frozen while the platforms publish: a real backlog, warm workers
        os.kill(w.pid, signal.SIGSTOP)
    try:
        publish_s = publish(prods, backlog)
    finally:
        for w in workers:
            os.kill(w.pid, signal.SIGCONT)
    spying = Spy(spy[0], workers[0], spy[1]) if spy else None
    cpu0, broker0 = sum(w.cpu() for w in workers), process_cpu_seconds(broker_pid)
    t0 = time.monotonic()
    t1 = wait_drained(probe, workers, timeout, f"backlog with {len(workers)} worker(s)")
    cpu = sum(w.cpu() for w in workers) - cpu0
    broker = process_cpu_seconds(broker_pid) - broker0
    profile = spying.stop() if spying else None
    wall = t1 - t0
    m: dict[str, float] = {}
    for w in workers:
        for k, v in w.metrics().items():
            m[k] = m.get(k, 0.0) + v
    return {
        "stage": "end_to_end",
        "workers": len(workers),
        "load_share": 1.0,
        "events": records,
        "events_per_s_per_core": round(records / cpu),
        "events_per_s_wall": round(records / wall),
        "wall_s": round(wall, 2),
        "worker_cpu_s": round(cpu, 2),
        "worker_cores_used": round(cpu / wall, 2),
        "broker_cpu_s": round(broker, 2),
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


class Watcher(threading.Thread):
    """A read_committed consumer of ``ends``' partitions from those offsets on, keeping
    every record's topic, arrival time, Kafka timestamp (its producer's send time) and
    bytes; decoding waits until the phase is over, so it competes with nothing."""

    def __init__(self, bootstrap: str, ends: dict[tuple[str, int], int]) -> None:
        super().__init__(daemon=True)
        self.consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": f"bench-watch-{uuid.uuid4().hex[:8]}",
                "enable.auto.commit": False,
                "isolation.level": "read_committed",
                "fetch.wait.max.ms": 10,
            }
        )
        self.consumer.assign([TopicPartition(t, p, max(0, o)) for (t, p), o in ends.items()])
        self.got: list[tuple[str, float, int, bytes]] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            msgs = self.consumer.consume(1000, timeout=0.05)
            now = time.time()
            self.got += [
                (m.topic() or "", now, m.timestamp()[1], m.value() or b"")
                for m in msgs
                if m.error() is None
            ]
        self.consumer.close()


def paced(prods: dict[str, PlatformProducer], records: list[Rec], rate: float) -> tuple[int, float]:
    """Publish ``records`` at ``rate`` records/s; returns (sent, seconds taken)."""
    began = time.monotonic()
    sent = 0
    while sent < len(records):
        due = min(len(records), int(rate * (time.monotonic() - began)))
        for platform, kind, key, value in records[sent:due]:
            prods[platform].send_raw(kind, key, value)  # type: ignore[arg-type]
        sent = max(sent, due)
        time.sleep(0.002)
    for prod in prods.values():
        prod.flush()
    return sent, time.monotonic() - began


def run_latency(
    worker: Worker,
    probe: Probe,
    prods: dict[str, PlatformProducer],
    live: Iterator[Rec],
    bootstrap: str,
    share: float,
    max_rate: float,
    seconds: float,
) -> dict[str, Any]:
    rate = share * max_rate
    # Generated before the clock starts: the simulator must not compete with the worker.
    records = list(islice(live, round(rate * seconds)))
    if len(records) < round(rate * seconds):
        print(f"  (only {len(records)} live records left: a shorter phase)", flush=True)
    watched = [topics.EXCHANGE_EVENTS, topics.PROFILE_UPDATES, *probe.feeds]
    watcher = Watcher(bootstrap, probe.ends(watched))
    watcher.start()
    cpu0, t0 = worker.cpu(), time.monotonic()
    try:
        sent, took = paced(prods, records, rate)
        published = time.monotonic()
        drained = wait_drained(probe, [worker], 120 + seconds, f"latency at {share:.0%}")
        cpu, wall = worker.cpu() - cpu0, time.monotonic() - t0
        time.sleep(0.5)  # the last committed records reach the watcher
    finally:
        watcher.stopping.set()
        watcher.join(10)
    lat = latencies(watcher.got)
    seen = [v for _, v in lat["visible"]]
    row: dict[str, Any] = {
        "stage": "end_to_end",
        "workers": 1,
        "load_share": share,
        "target_events_per_s": round(rate),
        "sent_events_per_s": round(sent / took),
        "events": sent,
        "seconds": round(took, 1),
        "latency_samples": len(seen),
        "worker_cores_used": round(cpu / wall, 2),
        "drain_after_publish_s": round(drained - published, 2),
        "events_per_s_per_core": None,
    }
    for q in (50, 95, 99):
        row[f"p{q}_ms"] = round(percentile(seen, q / 100), 1) if seen else None
    row["max_ms"] = round(max(seen), 1) if seen else None
    row["by_stage_ms"] = {
        where: {f"p{q}": round(percentile(v, q / 100)) for q in (50, 99)}
        for where, pairs in lat.items()
        if (v := [x for _, x in pairs])
    }
    ordered = sorted(lat["visible"])  # by ingest time: did latency grow during the phase?
    thirds = [ordered[i * len(ordered) // 3 : (i + 1) * len(ordered) // 3] for i in range(3)]
    row["p50_ms_by_third"] = [round(percentile([v for _, v in t], 0.5)) for t in thirds if t]
    row["latency_is"] = (
        "p50/p95/p99/max: a bank's read_committed consumer receiving the feed record - "
        "the platform record's Kafka timestamp (FeedRecord.ingested_at), i.e. from the "
        "platform's send to the bank seeing it. by_stage_ms: the same clock start to "
        "each stage's output being produced (ingress: exchange.events record timestamp; "
        "profiles: exchange.profile-updates timestamp; fanout: FeedRecord.produced_at), "
        "before that stage's commit; visible = the bank receiving it. p50_ms_by_third: "
        "p50 for the first, middle and last third of the phase (growing = falling behind)"
    )
    return row


def latencies(got: list[tuple[str, float, int, bytes]]) -> dict[str, list[tuple[int, float]]]:
    """(ingested_at, ms since) pairs, per point of the path, from watched records."""
    codec = codec_for(None)
    out: dict[str, list[tuple[int, float]]] = {
        "ingress": [],
        "profiles": [],
        "fanout": [],
        "visible": [],
    }
    for topic, received, stamp, value in got:
        if topic == topics.EXCHANGE_EVENTS:
            ingested = to_epoch_ms(codec.decode(value, {EXCHANGE_EVENT})[1]["ingested_at"])
            out["ingress"].append((ingested, stamp - ingested))
        elif topic == topics.PROFILE_UPDATES:
            datum = codec.decode(value, {PROFILE_UPDATE})[1]
            ingested = to_epoch_ms(datum["last_ingested_at"])
            out["profiles"].append((ingested, stamp - ingested))
        else:
            datum = codec.decode(value, {FEED_RECORD})[1]
            if datum.get("ingested_at") is None:
                continue  # subscription answers carry no event time
            ingested = to_epoch_ms(datum["ingested_at"])
            out["fanout"].append((ingested, to_epoch_ms(datum["produced_at"]) - ingested))
            out["visible"].append((ingested, received * 1000 - ingested))
    return out


RESTORED = re.compile(r"profiles assigned .*restored (\d+) records in ([0-9.]+)s")


def run_restore(worker: Worker, borrowers: int, timeout: float = 180) -> dict[str, Any]:
    """SIGKILL ``worker``, start it again, time it until ready with every profile back."""
    log_mark = worker.log_path.stat().st_size
    worker.kill()
    began = time.monotonic()
    worker.start()
    while True:
        worker.check_alive()
        m = worker.metrics()
        held = metric_sum(m, "creditstream_table_entries", table="profiles")
        if held >= borrowers and worker.ready():
            took = time.monotonic() - began
            break
        if time.monotonic() - began > timeout:
            raise BenchError(f"restore: not ready after {timeout:.0f}s\n{worker.log_tail()}")
        time.sleep(0.1)
    restored = int(metric_sum(m, "creditstream_recovery_restored_total", stage="profiles"))
    with open(worker.log_path, "rb") as log:
        log.seek(log_mark)
        text = log.read().decode(errors="replace")
    found = RESTORED.findall(text)
    stage_s = sum(float(s) for _, s in found) if found else took
    stamps = {what: _stamp(text, what) for what in ("(Re-)joining group", "Joined group")}
    joined, joining = stamps["Joined group"], stamps["(Re-)joining group"]
    return {
        "restore_s": round(stage_s, 2),
        "restore_per_s": round(restored / stage_s) if stage_s else None,
        "restored_records": restored,
        "restored_borrowers": int(held),
        "restart_to_ready_s": round(took, 2),
        "faust_group_join_s": round(joined - joining, 2) if joined and joining else None,
        "restore_note": "restore_per_s = profile changelog records / the profiles stage's "
        "restore seconds (worker log); restart_to_ready_s: SIGKILL + new process + "
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
    ingest = [t for p in platforms for t in (topics.ingest_loans(p), topics.ingest_activity(p))]
    env = dict(os.environ) | {
        "BENCH_EVENTS": str(records),
        "BENCH_SECONDS": str(args.faust_seconds),
        "BENCH_OUT": str(out),
        "BENCH_APP_ID": f"bench-faust-e2e-{uuid.uuid4().hex[:6]}",
        "BENCH_BOOTSTRAP": bootstrap,
        "BENCH_DATADIR": tempfile.mkdtemp(prefix="faust-", dir=args.workdir),
        "BENCH_PARTITIONS": str(args.partitions),
        "BENCH_INGEST_TOPICS": ",".join(ingest),
        "BENCH_BANKS": ",".join(banks),
        "BENCH_SUBS": str(subs_file),
        "BENCH_HMAC_KEY": HMAC_KEY,
    }
    log = args.workdir / "faust-e2e.log"
    cmd = [sys.executable, str(HERE / "faust_e2e_baseline.py"), "worker", "-l", "warn"]
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


# -- the run --------------------------------------------------------------------------


def run(args: argparse.Namespace, reaper: Reaper, say: Callable[[str], None]) -> dict[str, Any]:
    began = time.monotonic()
    config, backlog, live = make_data(args)
    platforms = platform_names(config)
    banks = list(BANK_NAMES[: args.banks])
    plan = subscription_plan(config, banks, args.bank_share)
    expires = datetime.now(UTC) + timedelta(days=365)
    covered = len({nid for _, nid, *_ in plan})
    say(
        f"generated {len(backlog)} backlog records ({args.borrowers} borrowers, "
        f"{len(platforms)} platforms, last {args.period_days} days) and "
        f"{len(plan)} subscriptions of {len(banks)} banks over {covered} borrowers "
        f"in {time.monotonic() - began:.0f}s"
    )
    rows: list[dict[str, Any]] = []

    @contextmanager
    def broker() -> Iterator[tuple[BrokerInfo, Probe, Children]]:
        """A fresh broker, provisioned; its probe and children end before it stops."""
        with private_broker_info(heap=args.broker_heap) as info:
            reaper.add_pid(info.pid)
            reaper.add_dir(info.data_dir)
            provision_all(info.bootstrap, args, platforms, banks)
            with (
                closing(Probe(info.bootstrap, args.partitions, platforms, banks)) as probe,
                Children(reaper) as children,
            ):
                yield info, probe, children

    # -- broker A: 1 worker (and the baseline), latency, memory, restore ----------------
    k = 0 if args.skip_faust else min(args.faust_events, len(backlog))
    with broker() as (info, probe, children):
        bootstrap = info.bootstrap
        worker = Worker("worker-a1", bootstrap, args, children)
        subscribed = time.monotonic()
        subscribe(bootstrap, plan, expires)
        start_settled([worker])
        wait_drained(probe, [worker], args.timeout, "subscriptions")
        say(f"subscriptions answered in {time.monotonic() - subscribed:.0f}s")
        segments = []
        if k:
            say(f"timing 1 worker on the first {k} records (the baseline's)")
            first = run_backlog([worker], probe, info.pid, backlog[:k], platforms, args.timeout)
            say(_line(first))
            segments.append(dict(first))
            held = metric_sum(worker.metrics(), "creditstream_table_entries", table="profiles")
            worker.stop()
            say(f"obvious-Faust baseline on the same {k} records (at most {args.faust_seconds}s)")
            expires_ms = int(expires.timestamp() * 1000)
            frow = run_faust(bootstrap, args, platforms, banks, plan, expires_ms, k, children)
            say(_line(frow))
            ratio = round(first["events_per_s_per_core"] / frow["events_per_s_per_core"], 1)
            first |= {"subset": f"first {k} backlog records (the baseline's data)"}
            first["ratio_to_obvious_faust"] = ratio
            rows += [first, frow]
            start_settled([worker])
            restored = metric_sum(worker.metrics(), "creditstream_table_entries", table="profiles")
            if restored < held:
                raise BenchError(f"restart restored {restored} profiles of {held}")
        say(f"timing 1 worker on {len(backlog) - k} records")
        spy = (args.py_spy, args.workdir / "py-spy-worker.txt") if args.py_spy else None
        segments.append(
            run_backlog([worker], probe, info.pid, backlog[k:], platforms, args.timeout, spy)
        )
        say(_line(segments[-1]))
        row = combine(segments)
        if k:
            row["ratio_to_obvious_faust"] = rows[0]["ratio_to_obvious_faust"]
            row["ratio_note"] = (
                "measured on the same records: the real worker on the first "
                f"{k} backlog records (row 'subset') vs the baseline on them"
            )
        rows.insert(0, row)
        max_rate = row["events_per_s_wall"]
        prods = producers(bootstrap, platforms)
        for share in args.loads:
            lrow = run_latency(
                worker, probe, prods, live, bootstrap, share, max_rate, args.latency_seconds
            )
            say(_line(lrow))
            rows.append(lrow)
        for prod in prods.values():
            prod.close()
        m = worker.metrics()
        borrowers = int(metric_sum(m, "creditstream_table_entries", table="profiles"))
        rss = worker.rss_mb()
        start_rss = row["rss_mb_at_start"]
        row |= {
            "rss_mb": round(rss, 1),
            "borrowers": borrowers,
            "rss_mb_per_million_borrowers": round(rss / borrowers * 1e6) if borrowers else None,
            "rss_mb_per_million_borrowers_marginal": round((rss - start_rss) / borrowers * 1e6)
            if borrowers
            else None,
            "rss_note": "rss_mb: the whole worker process (every stage, Faust, librdkafka "
            "buffers) after the backlog and the latency phases; per million borrowers: "
            "rss_mb / the profiles it holds x 1e6 (fixed overhead included), and marginal: "
            "(rss_mb - rss_mb_at_start) / profiles x 1e6; both linear extrapolations from "
            "this many borrowers, all of them below profile_hot_states (default 200 000 "
            "decoded states; past it the profile stage keeps states as bytes, so the "
            "linear figure overstates a million-borrower worker)",
        }
        if not args.skip_restore:
            row |= run_restore(worker, borrowers)
            say(
                f"restore: {row['restored_records']} records in {row['restore_s']}s, "
                f"ready {row['restart_to_ready_s']}s after the SIGKILL"
            )
        worker.stop()
    if args.skip_scale:
        return _summary(rows, args, len(backlog), covered)
    # -- broker B: 2 workers ---------------------------------------------------------------
    with broker() as (info, probe, children):
        bootstrap = info.bootstrap
        pair = [Worker(f"worker-b{i}", bootstrap, args, children) for i in (1, 2)]
        subscribe(bootstrap, plan, expires)
        start_settled(pair)
        wait_drained(probe, pair, args.timeout, "subscriptions (2 workers)")
        say("timing 2 workers")
        row2 = run_backlog(pair, probe, info.pid, backlog, platforms, args.timeout)
        row2["scale_vs_1_worker"] = round(row2["events_per_s_wall"] / max_rate, 2)
        row2["rss_mb"] = round(sum(w.rss_mb() for w in pair), 1)
        say(_line(row2))
        rows.append(row2)
        for w in pair:
            w.stop()
    return _summary(rows, args, len(backlog), covered)


COUNTS = (
    *("events", "wall_s", "worker_cpu_s", "broker_cpu_s", "publish_s", "accepted", "rejected"),
    *("profile_updates", "feed_records_with_data", "audit_records"),
)


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
    row["segments"] = [{k: s[k] for k in ("events", "wall_s", "worker_cpu_s")} for s in segments]
    row["segments_note"] = (
        "published and timed in two parts; in between the worker was stopped while the "
        "baseline ran on the first part's records, then started again and settled"
    )
    return row


def _line(row: dict[str, Any]) -> str:
    keys = [
        *("stage", "workers", "load_share", "events_per_s_per_core", "events_per_s_wall"),
        *("wall_s", "worker_cpu_s", "broker_cpu_s", "sent_events_per_s", "latency_samples"),
        *("p50_ms", "p95_ms", "p99_ms"),
    ]
    return "  " + ", ".join(f"{k}={row[k]}" for k in keys if row.get(k) is not None)


def _summary(
    rows: list[dict[str, Any]], args: argparse.Namespace, records: int, covered: int
) -> dict[str, Any]:
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


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.bench_end_to_end",
        description=__doc__,
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
    add("--seed", type=int, default=11)
    add("--loads", type=float, nargs="+", default=[0.5, 0.7], help="shares of the max rate")
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
        "CREDITSTREAM_PROFILE_BATCH_MAX=10000",
    )
    add(
        "--py-spy",
        metavar="BIN",
        help="profile the worker's main timed run with this py-spy binary (perturbs it a "
        "little; the summary goes into the report, the raw stacks into the work dir)",
    )
    args = parser.parse_args(argv)
    if args.quick:
        defaults = {
            "borrowers": 6_000,
            "events": 20_000,
            "live_events": 60_000,
            "banks": 3,
            "latency_seconds": 8.0,
            "faust_events": 6_000,
            "faust_seconds": 90.0,
            "timeout": 300.0,
        }
        for key, value in defaults.items():
            if getattr(args, key) == parser.get_default(key):
                setattr(args, key, value)
    return args


def main(argv: list[str] | None = None) -> int:
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
    out = args.out
    if out is None and args.quick:
        out = Path(tempfile.gettempdir()) / "creditstream-end_to_end-quick.json"
    path = write_report("end_to_end", report.pop("results"), report, out)
    say(f"wrote {path}")
    print(render(json.loads(path.read_text())))
    return 0


def render(report: dict[str, Any]) -> str:
    s = report["summary"]
    two = s["events_per_s_wall_2_workers"]
    lines = [
        "",
        "end to end (ingress -> profiles -> fan-out + audit), real broker, "
        f"{report['machine']['cores']} cores:",
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


if __name__ == "__main__":
    sys.exit(main())

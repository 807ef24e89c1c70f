"""``creditstream demo``: the whole exchange on this machine, live in the terminal.

Starts (or reuses) the local broker, creates a pseudonymization key on first use,
starts worker processes and the seeded platform simulator, and redraws what is
happening every second from the workers' own ``/metrics``: events in per platform,
rejects by reason, profiles updated, alerts, batch latency, deliveries per bank. Two
simulated banks subscribe (through the bank SDK) to a few borrowers of each simulator
round, overlapping, and the screen shows the last records of each bank's feed as the
bank reads them. Ctrl-C stops the simulator, the bank readers, the workers and (if the
demo started it) the broker, leaving nothing behind.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections import defaultdict, deque
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from streams.commands.feed import format_item
from streams.commands.simulate import SimulationConfig, run_simulation
from streams.localkafka import BrokerSpec, start, status, stop, wipe
from streams.runtime.provision import ensure_bank
from streams.sdk.subscriber import BankSubscriber, FeedItem
from streams.settings import Settings
from streams.simulator.load import SimConfig, national_ids

HOME = Path(".creditstream")
Samples = dict[str, dict[tuple[tuple[str, str], ...], float]]
#: The simulated banks and which of each round's first borrowers they subscribe to
#: (overlapping, so some borrowers are seen by both).
BANKS = {"northbank": range(0, 4), "southbank": range(2, 6)}
FEED_LINES = 4  # feed records shown per bank
LINE_MAX = 150  # a feed record with many alerts would wrap and scroll the screen


def _key_file() -> Path:
    """The demo's HMAC key (32 random bytes as hex), created once, readable only by you."""
    path = HOME / "hmac.key"
    if not path.exists():
        HOME.mkdir(exist_ok=True)
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path


def _free_ports(first: int, count: int) -> list[int]:
    """``count`` ports from ``first`` upwards that nothing listens on (web endpoints)."""
    ports: list[int] = []
    port = first
    while len(ports) < count and port < 65535:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) != 0:
                ports.append(port)
        port += 1
    return ports


def _start_workers(ports: list[int], bootstrap: str) -> list[subprocess.Popen[bytes]]:
    logs = HOME / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    procs = []
    for n, port in enumerate(ports):
        env = dict(os.environ) | {
            "CREDITSTREAM_BOOTSTRAP": bootstrap,
            "CREDITSTREAM_HMAC_KEY_FILE": str(_key_file().resolve()),
            "CREDITSTREAM_STATE_DIR": str((HOME / "state" / f"worker-{n}").resolve()),
            "CREDITSTREAM_WEB_PORT": str(port),
        }
        with open(logs / f"worker-{n}.log", "ab") as out:
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "streams.cli", "worker"],
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,  # Ctrl-C goes to the demo, which stops them in order
                )
            )
    return procs


def _stop_workers(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(10)


def _scrape(ports: list[int]) -> Samples:
    """Samples summed over every worker's /metrics (a worker still starting is skipped)."""
    out: Samples = defaultdict(lambda: defaultdict(float))
    for port in ports:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as resp:
                text = resp.read().decode()
        except OSError:
            continue
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                out[s.name][tuple(sorted(s.labels.items()))] += s.value
    return out


def _by(samples: Samples, name: str, label: str) -> dict[str, float]:
    totals: dict[str, float] = defaultdict(float)
    for labels, value in samples.get(name, {}).items():
        totals[dict(labels).get(label, "")] += value
    return dict(totals)


def render(
    samples: Samples,
    sent: int,
    elapsed: float,
    workers: int,
    feeds: Mapping[str, Sequence[FeedItem]] | None = None,
) -> str:
    """The live screen (pure: samples and the banks' latest feed items in, text out)."""
    events = _by(samples, "creditstream_events_in_total", "platform")
    rejects = _by(samples, "creditstream_rejects_total", "reason")
    rejects_by_platform = _by(samples, "creditstream_rejects_total", "platform")
    alerts = _by(samples, "creditstream_alerts_total", "kind")
    ready = _by(samples, "creditstream_ready", "stage")
    batches = samples.get("creditstream_ingress_batch_duration_seconds_count", {})
    batch_sum = samples.get("creditstream_ingress_batch_duration_seconds_sum", {})
    n_batches, t_batches = sum(batches.values()), sum(batch_sum.values())
    lines = [
        f"creditstream demo — {elapsed:5.0f}s, {workers} worker(s), simulator sent {sent} records",
        "stages ready: "
        + (", ".join(f"{k} {'yes' if v else 'no'}" for k, v in sorted(ready.items())) or "—"),
        "",
        f"{'platform':<22}{'events in':>10}{'rejected':>10}",
    ]
    for platform in sorted(set(events) | set(rejects_by_platform)):
        ev, rj = events.get(platform, 0), rejects_by_platform.get(platform, 0)
        lines.append(f"{platform:<22}{ev:>10.0f}{rj:>10.0f}")
    lines += ["", "rejects by reason: " + (_pairs(rejects) or "none yet")]
    updates = sum(samples.get("creditstream_profile_updates_total", {}).values())
    lines += [f"profiles updated: {updates:.0f}", "alerts: " + (_pairs(alerts) or "none yet")]
    if n_batches:
        mean_ms = 1000 * t_batches / n_batches
        lines.append(f"ingress: {n_batches:.0f} batches, mean {mean_ms:.0f} ms per batch")
    lines += _feed_panel(samples, feeds or {})
    lines += ["", "Ctrl-C stops everything."]
    return "\n".join(lines)


def _feed_panel(samples: Samples, feeds: Mapping[str, Sequence[FeedItem]]) -> list[str]:
    """Deliveries per bank (metered, from /metrics) and each bank's last feed records."""
    delivered = _by(samples, "creditstream_feed_deliveries_total", "bank")
    latency_sum = _by(samples, "creditstream_event_to_feed_latency_seconds_sum", "bank")
    latency_n = _by(samples, "creditstream_event_to_feed_latency_seconds_count", "bank")
    lines = ["", "bank feeds: " + (_pairs(delivered) or "no deliveries yet")]
    for bank in sorted(set(feeds) | set(delivered)):
        n = latency_n.get(bank, 0)
        mean = f", event-to-feed mean {1000 * latency_sum.get(bank, 0) / n:.0f} ms" if n else ""
        lines.append(f"{bank}: {delivered.get(bank, 0):.0f} deliveries{mean}")
        for item in list(feeds.get(bank, ()))[-FEED_LINES:]:
            line = "  " + format_item(item)
            lines.append(line if len(line) <= LINE_MAX else line[: LINE_MAX - 1] + "…")
    return lines


def _subscribe_round(settings: Settings, sim: SimConfig, round_no: int) -> None:
    """Each bank subscribes to its share of this round's first borrowers."""
    ids = national_ids(sim, max(max(r) for r in BANKS.values()) + 1)
    expires = datetime.now(UTC) + timedelta(days=1)
    for bank, members in BANKS.items():
        with BankSubscriber(bank, settings) as sub:
            for i in members:
                ref = f"{bank[:2]}-{round_no}-{i}"
                sub.subscribe(ids[i], ref, f"consent-{ref}", "CREDIT_APPLICATION", expires)


def _read_feed(
    bank: str, settings: Settings, out: deque[FeedItem], stopping: threading.Event
) -> None:
    """Tail ``bank``'s feed as the bank's SDK reads it (deduplicated), keeping the last few."""
    with BankSubscriber(bank, settings, from_beginning=True) as sub:
        while not stopping.is_set():
            for item in sub.feed(timeout=1.0):
                out.append(item)
                if stopping.is_set():
                    break


def _pairs(d: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.0f}" for k, v in sorted(d.items(), key=lambda kv: -kv[1]))


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    spec = BrokerSpec(
        data_dir=settings.broker_data_dir.resolve(),
        cache_dir=settings.cache_dir,
        version=settings.kafka_version,
        port=settings.broker_port,
    )
    ours = status(spec) is None
    if ours:  # a fresh exchange every time: no duplicates from an earlier demo's data
        wipe(spec)
        shutil.rmtree(HOME / "state", ignore_errors=True)
    info = start(spec)
    print(f"broker: Apache Kafka {info.version} at {info.bootstrap} (data {info.data_dir})")
    demo_settings = Settings(bootstrap=info.bootstrap, hmac_key_file=_key_file())
    ports = _free_ports(settings.web_port, args.workers)
    procs = _start_workers(ports, info.bootstrap)
    where = ", ".join(f"http://127.0.0.1:{p}/metrics" for p in ports)
    print(f"workers: {args.workers} started (logs in {HOME / 'logs'}; metrics at {where})")
    stopping = threading.Event()
    sent = 0
    feeds: dict[str, deque[FeedItem]] = {b: deque(maxlen=FEED_LINES) for b in BANKS}
    readers = []
    for bank in BANKS:
        ensure_bank(demo_settings.kafka_client_config(), bank, demo_settings.partitions)
        reader = threading.Thread(
            target=_read_feed,
            args=(bank, demo_settings, feeds[bank], stopping),
            name=f"feed-{bank}",
            daemon=True,
        )
        reader.start()
        readers.append(reader)

    failure: list[BaseException] = []

    def simulate() -> None:
        try:
            simulate_rounds()
        except BaseException as exc:  # shown on screen, then the demo stops
            failure.append(exc)

    def simulate_rounds() -> None:
        nonlocal sent
        round_no = 0
        while not stopping.is_set():
            round_no += 1
            sim = SimConfig(
                now_ms=int(time.time() * 1000),
                platforms=args.platforms,
                borrowers=args.borrowers,
                events=max(1, int(args.rate * 10)),
                bad_share=args.bad_share,
                seed=args.seed * 1000 + round_no,
            )
            _subscribe_round(demo_settings, sim, round_no)
            summary = run_simulation(
                demo_settings, SimulationConfig(sim=sim, rate=args.rate, keep_records=False)
            )
            sent += summary.good + summary.bad

    sim_thread = threading.Thread(target=simulate, name="simulator", daemon=True)
    sim_thread.start()
    began = time.monotonic()
    tty = sys.stdout.isatty()
    try:
        while args.duration <= 0 or time.monotonic() - began < args.duration:
            if any(p.poll() is not None for p in procs):
                print("a worker exited; see .creditstream/logs", file=sys.stderr)
                return 1
            if failure:
                print(f"the simulator stopped: {failure[0]}", file=sys.stderr)
                return 1
            screen = render(_scrape(ports), sent, time.monotonic() - began, len(procs), feeds)
            print(("\033[H\033[2J" if tty else "\n") + screen, flush=True)
            time.sleep(1.0 if tty else 5.0)
    except KeyboardInterrupt:
        pass
    finally:
        stopping.set()
        print(
            "\nstopping: simulator, bank readers, workers" + (", broker" if ours else ""),
            flush=True,
        )
        sim_thread.join(15)
        for reader in readers:
            reader.join(15)
        _stop_workers(procs)
        if ours:
            stop(spec)
    print("stopped; nothing left running")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo = sub.add_parser("demo", help="run broker, workers and simulated platforms, live")
    demo.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    demo.add_argument("--rate", type=float, default=300.0, help="simulated records/s")
    demo.add_argument("--platforms", type=int, default=6, help="simulated platforms (default 6)")
    demo.add_argument(
        "--borrowers", type=int, default=400, help="simulated borrowers (default 400)"
    )
    demo.add_argument(
        "--bad-share",
        type=float,
        default=0.01,
        help="share of deliberately bad records, every reject reason (default 0.01)",
    )
    demo.add_argument(
        "--seed", type=int, default=1, help="simulation seed: same seed, same data (default 1)"
    )
    demo.add_argument("--duration", type=float, default=0, help="seconds; 0 runs until Ctrl-C")
    demo.set_defaults(handler=cmd_demo)

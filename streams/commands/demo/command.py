"""``creditstream demo``: start everything, redraw the screen each second, stop it all.

Contract: :func:`cmd_demo` starts (or reuses) the local broker; a broker it starts
begins empty, its workers' state too, so no duplicates come from an earlier demo. It
then starts the workers, provisions the banks and starts their feed readers, and runs
the seeded simulator in rounds (each bank subscribing first) on a thread. It redraws
the screen (in a terminal the live layout of ``live``, else text blocks) until
``--duration`` passes or Ctrl-C, and returns 1 as soon as a worker exits or the
simulator fails (saying why once the screen is given back). On the way out it stops
the simulator, the bank readers, the workers and, if it started it, the broker,
leaving nothing running.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import threading
import time
from collections import deque
from contextlib import nullcontext

from streams.commands.demo.banks import BANKS, read_feed, subscribe_round
from streams.commands.demo.live import LiveScreen
from streams.commands.demo.processes import (
    HOME,
    free_ports,
    key_file,
    start_workers,
    stop_workers,
)
from streams.commands.demo.screen import FEED_LINES, render, scrape, screen_of
from streams.commands.simulate import SimulationConfig, run_simulation
from streams.localkafka import BrokerSpec, start, status, stop, wipe
from streams.runtime.provision import ensure_bank
from streams.sdk.subscriber import FeedItem
from streams.settings import Settings
from streams.simulator.load import SimConfig


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
    demo_settings = Settings(bootstrap=info.bootstrap, hmac_key_file=key_file())
    ports = free_ports(settings.web_port, args.workers)
    procs = start_workers(ports, info.bootstrap)
    where = ", ".join(f"http://127.0.0.1:{p}/metrics" for p in ports)
    print(f"workers: {args.workers} started (logs in {HOME / 'logs'}; metrics at {where})")
    url = f"http://127.0.0.1:{ports[0]}/status"
    status_page = f"status page: {url} (open it in a browser)"
    print(status_page)
    stopping = threading.Event()
    sent = 0
    feeds: dict[str, deque[FeedItem]] = {b: deque(maxlen=FEED_LINES) for b in BANKS}
    readers = []
    for bank in BANKS:
        ensure_bank(demo_settings.kafka_client_config(), bank, demo_settings.partitions)
        reader = threading.Thread(
            target=read_feed,
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
            subscribe_round(demo_settings, sim, round_no)
            summary = run_simulation(
                demo_settings, SimulationConfig(sim=sim, rate=args.rate, keep_records=False)
            )
            sent += summary.good + summary.bad

    sim_thread = threading.Thread(target=simulate, name="simulator", daemon=True)
    sim_thread.start()
    began = time.monotonic()
    # A terminal gets the live layout, redrawn in place each second; a pipe or a log gets
    # the same figures as a block of text every 5 s.
    tty = sys.stdout.isatty()
    screen = LiveScreen() if tty else nullcontext()
    problem = ""
    try:
        with screen:
            while args.duration <= 0 or time.monotonic() - began < args.duration:
                if any(p.poll() is not None for p in procs):
                    problem = "a worker exited; see .creditstream/logs"
                    break
                if failure:
                    problem = f"the simulator stopped: {failure[0]}"
                    break
                samples, elapsed = scrape(ports), time.monotonic() - began
                if isinstance(screen, LiveScreen):
                    screen.show(screen_of(samples, sent, elapsed, len(procs), feeds), url)
                else:
                    text = render(samples, sent, elapsed, len(procs), feeds)
                    print("\n" + text + "\n" + status_page, flush=True)
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
        stop_workers(procs)
        if ours:
            stop(spec)
    if problem:
        print(problem, file=sys.stderr)
        return 1
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

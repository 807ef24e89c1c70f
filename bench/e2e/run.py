"""The benchmark's phases in order, on two fresh brokers (see ``bench.e2e`` for what each
measures).

``run`` generates the data, then on broker A with one worker: the subscriptions (not
timed), the backlog timed in two parts with the obvious-Faust baseline on the first
part's records in between, the latency phases, the memory figures and the restore; then,
unless ``--skip-scale``, on broker B the whole backlog with two workers. It returns the
report (``report.summarize``) without the machine; every broker and process it started
is stopped when it returns or raises.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.common import private_broker_info
from bench.e2e.backlog import combine, run_backlog
from bench.e2e.baseline import run_faust
from bench.e2e.data import (
    BANK_NAMES,
    make_data,
    producers,
    provision_all,
    subscribe,
    subscription_plan,
)
from bench.e2e.latency import run_latency
from bench.e2e.probe import Probe, wait_drained
from bench.e2e.reaper import Reaper
from bench.e2e.report import line, summarize
from bench.e2e.restore import run_restore
from bench.e2e.worker import (
    BenchError,
    Children,
    borrowers_held,
    merged_metrics,
    start_settled,
    team,
)
from streams.localkafka import BrokerInfo
from streams.simulator.load import platform_names


def run(args: argparse.Namespace, reaper: Reaper, say: Callable[[str], None]) -> dict[str, Any]:
    """Every phase of the benchmark ``args`` asks for; ``say`` reports progress."""
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
            probing = Probe(info.bootstrap, args.partitions, platforms, banks, args.bank_partitions)
            with (
                closing(probing) as probe,
                Children(reaper) as children,
            ):
                yield info, probe, children

    # -- broker A: 1 worker (and the baseline), latency, memory, restore ----------------
    k = 0 if args.skip_faust else min(args.faust_events, len(backlog))
    with broker() as (info, probe, children):
        bootstrap = info.bootstrap
        crew = team("worker-a1", bootstrap, args, children)
        subscribed = time.monotonic()
        subscribe(bootstrap, plan, expires)
        start_settled(crew)
        wait_drained(probe, crew, args.timeout, "subscriptions")
        say(f"subscriptions answered in {time.monotonic() - subscribed:.0f}s")
        segments = []
        if k:
            say(f"timing 1 worker on the first {k} records (the baseline's)")
            first = run_backlog(crew, probe, info.pid, backlog[:k], platforms, args.timeout)
            say(line(first))
            segments.append(dict(first))
            held = borrowers_held(merged_metrics(crew))
            for w in crew:
                w.stop()
            say(f"obvious-Faust baseline on the same {k} records (at most {args.faust_seconds}s)")
            expires_ms = int(expires.timestamp() * 1000)
            frow = run_faust(bootstrap, args, platforms, banks, plan, expires_ms, k, children)
            say(line(frow))
            ratio = round(first["events_per_s_per_core"] / frow["events_per_s_per_core"], 1)
            first |= {"subset": f"first {k} backlog records (the baseline's data)"}
            first["ratio_to_obvious_faust"] = ratio
            rows += [first, frow]
            start_settled(crew)
            restored = borrowers_held(merged_metrics(crew))
            # Only "something came back": the gauge is RocksDB's estimate-num-keys (state
            # on disk), which counts overwritten keys until compaction and moves when a
            # store is reopened (74,223 keys estimated at 197,338, then 175,979 after a
            # reopen, same content). Whether a restore is exact is the recovery tests'
            # and the chaos oracle's question, not this timing's.
            if held > 0 and restored <= 0:
                raise BenchError(f"restart restored nothing (about {held} borrowers held)")
        say(f"timing 1 worker on {len(backlog) - k} records")
        spy = (args.py_spy, args.workdir / "py-spy-worker.txt") if args.py_spy else None
        segments.append(
            run_backlog(crew, probe, info.pid, backlog[k:], platforms, args.timeout, spy)
        )
        say(line(segments[-1]))
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
                crew, probe, prods, live, bootstrap, share, max_rate, args.latency_seconds, info.pid
            )
            say(line(lrow))
            rows.append(lrow)
        for prod in prods.values():
            prod.close()
        borrowers = int(borrowers_held(merged_metrics(crew)))
        rss = sum(w.rss_mb() for w in crew)
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
            "rss_mb / the borrowers it holds (the borrower stage's entries: every "
            "borrower with an event or a subscription) x 1e6 (fixed overhead included), "
            "and marginal: (rss_mb - rss_mb_at_start) / borrowers x 1e6; both linear "
            "extrapolations from this many borrowers, all of them below "
            "borrower_hot_states (default 200 000 decoded entries; past it the borrower "
            "stage keeps entries as bytes, so the linear figure overstates a "
            "million-borrower worker)",
        }
        if not args.skip_restore:
            row |= run_restore(crew, borrowers)
            say(
                f"restore: {row['restored_records']} records in {row['restore_s']}s, "
                f"ready {row['restart_to_ready_s']}s after the SIGKILL"
            )
        for w in crew:
            w.stop()
    if args.skip_scale:
        return summarize(rows, args, len(backlog), covered)
    # -- broker B: 2 workers ---------------------------------------------------------------
    with broker() as (info, probe, children):
        bootstrap = info.bootstrap
        pair = [w for i in (1, 2) for w in team(f"worker-b{i}", bootstrap, args, children)]
        subscribe(bootstrap, plan, expires)
        start_settled(pair)
        wait_drained(probe, pair, args.timeout, "subscriptions (2 workers)")
        say("timing 2 workers")
        row2 = run_backlog(pair, probe, info.pid, backlog, platforms, args.timeout)
        row2["workers"] = 2
        row2["scale_vs_1_worker"] = round(row2["events_per_s_wall"] / max_rate, 2)
        row2["rss_mb"] = round(sum(w.rss_mb() for w in pair), 1)
        say(line(row2))
        rows.append(row2)
        for w in pair:
            w.stop()
    return summarize(rows, args, len(backlog), covered)

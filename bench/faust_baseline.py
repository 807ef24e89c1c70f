"""The Faust baselines of ``bench_profile_stage.py`` (run by it as a subprocess).

Usage: ``python bench/faust_baseline.py worker`` with BENCH_* variables in the env:

* ``BENCH_MODE=obvious``: per event decode, table read, apply, table write (changelog),
  snapshot, encode, ``await send`` -- the path issue 4 first described;
* ``BENCH_MODE=take``: the same amortized as far as Faust allows when each Kafka message
  holds one event: ``stream.take_events(1000)`` batches, one table write (with its
  changelog), one snapshot and one send per borrower per batch (Faust refuses table
  writes outside per-event iteration, so the borrower's last event is made current);
* ``BENCH_RESTORE=1``: process nothing, time the table recovery from its changelog.

Stops after ``BENCH_EVENTS`` events or ``BENCH_SECONDS`` seconds and writes its figures
to ``BENCH_OUT`` (JSON), then exits.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import signal
import sys
import time
import weakref
from pathlib import Path
from typing import Any

import faust
from faust.streams import _current_event

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from streams import topics
from streams.domain.profile.fold import apply
from streams.domain.profile.output import profile_to_avro
from streams.domain.profile.state import new_state, state_from_bytes, state_to_bytes
from streams.domain.profile.view import snapshot
from streams.domain.profile.windows import DEFAULT_CONFIG
from streams.domain.validation import from_avro
from streams.runtime.registry import codec_for
from streams.wire.schemas import BORROWER_PROFILE, EXCHANGE_EVENT

ENV = os.environ
MODE, N = ENV.get("BENCH_MODE", "obvious"), int(ENV.get("BENCH_EVENTS", "0"))
LIMIT, OUT = float(ENV.get("BENCH_SECONDS", "60")), Path(ENV["BENCH_OUT"])
RESTORE = ENV.get("BENCH_RESTORE") == "1"
EXPECTED = frozenset({EXCHANGE_EVENT})
CODEC = codec_for(None)

app = faust.App(
    ENV["BENCH_APP_ID"],
    broker=f"kafka://{ENV['BENCH_BOOTSTRAP']}",
    store="rocksdb://",
    datadir=ENV["BENCH_DATADIR"],
    topic_partitions=int(ENV["BENCH_PARTITIONS"]),
    topic_replication_factor=1,
    web_enabled=False,
    producer_acks=-1,
    key_serializer="raw",
    value_serializer="raw",
)
events_topic = app.topic(
    topics.EXCHANGE_EVENTS, key_type=bytes, value_type=bytes, value_serializer="raw"
)
out_topic = app.topic(
    "bench.faust-profiles", key_type=bytes, value_type=bytes, value_serializer="raw"
)
table = app.Table("bench-profiles", default=None, key_type=bytes, value_type=bytes)
seen: dict[str, Any] = {"events": 0, "lat": [], "first": None, "began": time.monotonic()}


def _finish(extra: dict[str, Any]) -> None:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    rss = int(Path("/proc/self/status").read_text().split("VmRSS:")[1].split()[0]) / 1024
    OUT.write_text(
        json.dumps(
            {
                "events": seen["events"],
                "latencies_s": seen["lat"],
                "cpu_s": usage.ru_utime + usage.ru_stime,
                "rss_mb": round(rss, 1),
            }
            | extra
        )
    )
    os.kill(os.getpid(), signal.SIGTERM)


def _one(key: bytes, value: bytes) -> tuple[bytes, Any]:
    ev = from_avro(CODEC.decode(value, EXPECTED)[1])
    data = table.get(key)
    state = state_from_bytes(data) if data else new_state(ev.borrower_id)
    apply(state, ev, DEFAULT_CONFIG)
    return key, state


@app.agent(events_topic)
async def profiles(stream: Any) -> None:
    if RESTORE:
        async for _ in stream:
            pass
    if MODE == "obvious":
        async for key, value in stream.items():
            began = time.perf_counter()
            seen["first"] = seen["first"] or time.monotonic()
            bkey, state = _one(key, value)
            table[bkey] = state_to_bytes(state)
            p = snapshot(state, int(time.time() * 1000), DEFAULT_CONFIG)
            await out_topic.send(key=bkey, value=CODEC.encode(BORROWER_PROFILE, profile_to_avro(p)))
            seen["lat"].append(time.perf_counter() - began)
            seen["events"] += 1
    else:
        async for batch in stream.take_events(1000, within=0.05):
            began = time.perf_counter()
            seen["first"] = seen["first"] or time.monotonic()
            states: dict[bytes, Any] = {}
            last: dict[bytes, Any] = {}
            for event in batch:
                ev = from_avro(CODEC.decode(event.value, EXPECTED)[1])
                key = ev.borrower_id.encode()
                state = states.get(key)
                if state is None:
                    data = table.get(key)
                    state = state_from_bytes(data) if data else new_state(ev.borrower_id)
                    states[key] = state
                apply(state, ev, DEFAULT_CONFIG)
                last[key] = event
            now = int(time.time() * 1000)
            for key, state in states.items():
                # Faust refuses table writes outside per-event iteration; make the
                # borrower's last event current so the coalesced write (with changelog)
                # goes to its partition.
                _current_event.set(weakref.ref(last[key]))
                table[key] = state_to_bytes(state)
                p = snapshot(state, now, DEFAULT_CONFIG)
                await out_topic.send(
                    key=key, value=CODEC.encode(BORROWER_PROFILE, profile_to_avro(p))
                )
            seen["lat"].append(time.perf_counter() - began)
            seen["events"] += len(batch)


@app.timer(0.5)
async def watch() -> None:
    if RESTORE:
        if app.tables.recovery.completed.is_set() and "restore_s" not in seen:
            seen["restore_s"] = time.monotonic() - seen["began"]
            _finish({"restore_s": seen["restore_s"], "restored": len(list(table.keys()))})
        return
    first = seen["first"]
    if first is None or "done" in seen:
        return
    if seen["events"] >= N or time.monotonic() - first > LIMIT:
        seen["done"] = True
        wall = time.monotonic() - first
        await asyncio.sleep(5)  # let the table changelog and commits go out
        _finish({"wall_s": wall})


if __name__ == "__main__":
    app.main()

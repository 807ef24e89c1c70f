"""The obvious-Faust end-to-end baseline of ``bench_end_to_end.py`` (run by it as a subprocess).

Usage: ``python bench/faust_e2e_baseline.py worker -l warn`` with BENCH_* variables in
the env (``bench/e2e/baseline.py`` sets them). The exchange's path written the way the
Faust documentation suggests, one Kafka message and one event at a time, calling the
same pure functions the real stages call:

* agent ``ingress`` on every ``ingest.<p>.{loans,activity}`` topic: per record decode
  the platform Avro, validate and pseudonymize (``streams.domain.validation.to_exchange_event``
  with ``streams.domain.privacy``), look the ``(platform, event_id)`` up in a dedup table and
  write it there (RocksDB + changelog), then ``await send`` the ExchangeEvent keyed by
  borrower_id to ``bench.faust-events`` (the repartition a borrower-keyed table needs),
  or ``await send`` the original bytes to ``bench.faust-rejected``;
* agent ``profiles`` on ``bench.faust-events``: per event decode, read the borrower's
  entry from a Faust table, fold the event (``streams.domain.profile.fold.apply``), take the view,
  decide materiality against the last emitted profile, write the entry back (changelog),
  ``await send`` the profile when material, and, when material or alerting, for each
  bank holding an active consent for the borrower ``await send`` a FeedRecord
  (``streams.domain.delivery.deliveries``) and a hash-chained AuditRecord
  (``streams.domain.audit``).

What it does not do, in its favour: consents are loaded at start from ``BENCH_SUBS`` (a
JSON file ``{borrower_id: [[bank, customer_ref, consent_ref, purpose, expires_ms,
granted_ms], ...]}``) instead of being a stream and a table of their own (in the real
worker the borrower stage reads exchange.consents). That is not timed in the real
worker's figures either: its subscriptions are processed before the timed backlog. Like
the real worker (two hops: ingress, then the borrower stage, which folds and delivers
in one transaction), it has no separate ProfileUpdate hop.

Stops once ``BENCH_EVENTS`` records are done (rejected at ingress, or through the
profiles agent) or ``BENCH_SECONDS`` after the first record, writes its figures to
``BENCH_OUT`` (JSON: events, wall_s and cpu_s from the first record on, counts, RSS) and
exits. Give it a time limit it can finish in: the ingress agent runs far ahead of the
profiles agent (it is the cheaper one), so at the limit its CPU would be counted for
events that never finished (``complete`` says whether it finished). Throttling it from
inside the agent is no way out: a stream that stops reading blocks Faust's delivery to
every other stream of the app, so the profiles agent starves (tried: a deadlock).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import faust

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import cpu_seconds, process_rss_mb
from streams import topics
from streams.domain.audit import ChainHead
from streams.domain.consent import Subscription
from streams.domain.delivery import FeedView, deliveries
from streams.domain.privacy import Pseudonymizer
from streams.domain.profile.fold import apply
from streams.domain.profile.output import material_view
from streams.domain.profile.view import view
from streams.domain.profile.windows import DEFAULT_CONFIG
from streams.domain.validation import (
    DEFAULT_LIMITS,
    InvalidEventError,
    check_size,
    from_avro,
    to_avro,
    to_exchange_event,
)
from streams.errors import DecodeError
from streams.runtime.registry import codec_for
from streams.stages.borrower.deliverybytes import DeliveryEncoder
from streams.stages.borrower.records import (
    OutputEncoder,
    new_profile_entry,
    profile_entry_from_bytes,
    profile_entry_to_bytes,
)
from streams.stages.ingress.process import EXPECTED
from streams.wire.consents import Purpose
from streams.wire.rejects import Reason
from streams.wire.schemas import AUDIT_RECORD, EXCHANGE_EVENT, FEED_RECORD

ENV = os.environ
N, LIMIT = int(ENV.get("BENCH_EVENTS", "0")), float(ENV.get("BENCH_SECONDS", "120"))
OUT = Path(ENV["BENCH_OUT"])
PARTITIONS = int(ENV["BENCH_PARTITIONS"])
INGEST = ENV["BENCH_INGEST_TOPICS"].split(",")
BANKS = ENV["BENCH_BANKS"].split(",")
CODEC = codec_for(None)
ENCODER = OutputEncoder(CODEC, DEFAULT_CONFIG)
#: Only its ``datum``: the feed record as the codec takes it (the obvious, generic path).
FEEDS = DeliveryEncoder(CODEC, ENCODER)
PSEUDO = Pseudonymizer({1: ENV["BENCH_HMAC_KEY"]}, 1)
EXCHANGE = frozenset({EXCHANGE_EVENT})
DUPLICATE = str(Reason.DUPLICATE_EVENT)


def _load_subs(path: str) -> dict[str, dict[str, Subscription]]:
    raw: dict[str, list[list[Any]]] = json.loads(Path(path).read_text())
    return {
        bid: {
            bank: Subscription(bank, cref, consent, Purpose(purpose), int(expires), int(granted))
            for bank, cref, consent, purpose, expires, granted in subs
        }
        for bid, subs in raw.items()
    }


SUBS = _load_subs(ENV["BENCH_SUBS"])

app = faust.App(
    ENV["BENCH_APP_ID"],
    broker=f"kafka://{ENV['BENCH_BOOTSTRAP']}",
    store="rocksdb://",
    datadir=ENV["BENCH_DATADIR"],
    topic_partitions=PARTITIONS,
    topic_replication_factor=1,
    web_enabled=False,
    producer_acks=-1,
    key_serializer="raw",
    value_serializer="raw",
)


def _topic(name: str) -> Any:
    return app.topic(name, key_type=bytes, value_type=bytes, value_serializer="raw")


ingest_topic = app.topic(*INGEST, key_type=bytes, value_type=bytes, value_serializer="raw")
events_topic = _topic("bench.faust-events")
profiles_topic = _topic("bench.faust-profiles")
rejected_topic = _topic("bench.faust-rejected")
audit_topic = _topic("bench.faust-audit")
feed_topics = {bank: _topic(f"bench.faust-feed-{bank}") for bank in BANKS}
dedup = app.Table("bench-e2e-dedup", default=None, key_type=bytes, value_type=bytes)
profiles_table = app.Table("bench-e2e-profiles", default=None, key_type=bytes, value_type=bytes)
heads = {p: ChainHead() for p in range(PARTITIONS)}
seen: dict[str, Any] = {
    "accepted": 0,
    "rejected": 0,
    "profiled": 0,
    "feed": 0,
    "audit": 0,
    "profiles_out": 0,
    "first": None,
    "cpu0": 0.0,
}


def _now_ms() -> int:
    return int(time.time() * 1000)


@app.agent(ingest_topic)
async def ingress(stream: Any) -> None:
    async for event in stream.events():
        if seen["first"] is None:
            seen["first"], seen["cpu0"] = time.monotonic(), cpu_seconds()
        msg = event.message
        platform, kind = topics.platform_of(msg.topic) or ("", "loans")
        raw: bytes = event.value or b""
        now = _now_ms()
        try:
            check_size(raw, DEFAULT_LIMITS)
            schema, datum = CODEC.decode(raw, EXPECTED[kind])
            ts = int(msg.timestamp * 1000) if msg.timestamp else now
            ev = to_exchange_event(platform, schema, datum, PSEUDO, now, ts, DEFAULT_LIMITS)
            dkey = f"{platform}:{ev.event_id}".encode()
            if dedup.get(dkey) is not None:
                raise DecodeError(DUPLICATE, "event_id was already accepted", raw)
        except (DecodeError, InvalidEventError) as exc:
            reason = str(exc.reason).encode()
            await rejected_topic.send(key=event.key, value=raw, headers=[("reason", reason)])
            seen["rejected"] += 1
            continue
        dedup[dkey] = str(now + 8 * 86_400_000).encode()
        value = CODEC.encode(EXCHANGE_EVENT, to_avro(ev))
        await events_topic.send(key=ev.borrower_id.encode(), value=value)
        seen["accepted"] += 1


@app.agent(events_topic)
async def profiles(stream: Any) -> None:
    config = DEFAULT_CONFIG
    async for event in stream.events():
        partition = event.message.partition
        ev = from_avro(CODEC.decode(event.value, EXCHANGE)[1])
        bid = ev.borrower_id
        key = bid.encode()
        data = profiles_table.get(key)
        entry = profile_entry_from_bytes(data) if data else new_profile_entry(bid)
        _, alerts = apply(entry.state, ev, config)
        now = _now_ms()
        v = view(entry.state, now, config)
        material = material_view(entry.emitted, v, config)
        if material:
            profile = ENCODER.profile(v)
            entry.emit(v)
            await profiles_topic.send(key=key, value=profile)
            seen["profiles_out"] += 1
        profiles_table[key] = profile_entry_to_bytes(entry)
        subs = SUBS.get(bid)
        if subs and (material or alerts):
            shown = FeedView(v, (), config)
            found = deliveries(
                bid, shown, v[4], alerts, subs, now, ev.ingested_at_ms, material=material
            )
            for d in found:
                record = CODEC.encode(FEED_RECORD, FEEDS.datum(d.record))
                await feed_topics[d.bank].send(key=d.key.encode(), value=record)
                seen["feed"] += 1
                if d.audit is not None:
                    sealed = CODEC.encode(AUDIT_RECORD, heads[partition].seal(d.audit))
                    await audit_topic.send(key=key, value=sealed, partition=partition)
                    seen["audit"] += 1
        seen["profiled"] += 1


def _finish(wall: float, cpu: float) -> None:
    rss = process_rss_mb(os.getpid())
    done = seen["rejected"] + seen["profiled"]
    figures = {k: v for k, v in seen.items() if k not in ("first", "cpu0")}
    OUT.write_text(
        json.dumps(
            figures
            | {"events": done, "wall_s": wall, "cpu_s": cpu, "rss_mb": round(rss, 1)}
            | {"borrowers": len(list(profiles_table.keys())), "complete": done >= N}
        )
    )
    os.kill(os.getpid(), signal.SIGTERM)


@app.timer(0.25)
async def watch() -> None:
    first = seen["first"]
    if first is None or "done" in seen:
        return
    if seen["rejected"] + seen["profiled"] >= N or time.monotonic() - first > LIMIT:
        seen["done"] = True
        _finish(time.monotonic() - first, cpu_seconds() - seen["cpu0"])


if __name__ == "__main__":
    app.main()

"""Issue 3's acceptance: the simulator through a real worker, nothing lost, no raw IDs.

The simulator publishes N events with 1% bad records across every reject reason; every
good event appears on exchange.events exactly once with the content validation gives
it, every bad one is in its platform's rejected topic with the right reason and its
original bytes, the worker's /metrics agree, and no raw national ID (as sent, or
normalized) appears on exchange.events, in the worker's log or in its state files.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

from streams import topics
from streams.commands.rejects import read_rejects
from streams.commands.simulate import SimulationConfig, SimulationSummary, run_simulation
from streams.domain.privacy import Pseudonymizer, normalize_national_id
from streams.domain.validation import from_avro, to_exchange_event
from streams.runtime.registry import codec_for
from streams.settings import Settings
from streams.simulator.load import SimConfig
from streams.wire.rejects import Reject
from streams.wire.schemas import EXCHANGE_EVENT
from tests.integration.kafka_helpers import consume_all, unique
from tests.integration.workers import TEST_HMAC_KEY, WorkerProcess, running_worker, worker_env
from tests.waiting import NotYet, eventually

EVENTS = 3000
CODEC = codec_for(None)


def _wait_for_metric(worker: WorkerProcess, name: str, total: float, timeout: float = 60) -> dict:
    """The worker's samples once the ``name`` samples sum to ``total`` or more."""

    def reached() -> dict | NotYet:
        samples = worker.metrics()
        got = sum(v for (n, _), v in samples.items() if n == name)
        return samples if got >= total else NotYet(f"{name} at {got:g} of {total:g}")

    return eventually(reached, what=f"{name} reaches {total:g}", timeout=timeout, interval=0.5)


def test_simulated_load_is_forwarded_or_rejected_exactly_once(private_bootstrap: str) -> None:
    env = worker_env(private_bootstrap)
    settings = Settings(bootstrap=private_bootstrap, partitions=2)
    sim = SimConfig(
        now_ms=int(time.time() * 1000),
        events=EVENTS,
        borrowers=300,
        bad_share=0.01,
        seed=11,
        platform_prefix="s" + unique("s")[-5:] + "-",
    )
    with running_worker(env) as worker:
        summary: SimulationSummary = run_simulation(settings, SimulationConfig(sim=sim))
        assert summary.bad == round(EVENTS * 0.01)
        assert len(summary.bad_by_reason) == 14  # every reason the ingress can give
        conf = {"bootstrap.servers": private_bootstrap}
        events = consume_all(conf, topics.EXCHANGE_EVENTS, expected=summary.good, timeout=120)
        samples = _wait_for_metric(worker, "creditstream_rejects_total", summary.bad)
        log_text = worker.log()
        state_dir = Path(env["CREDITSTREAM_STATE_DIR"])

    # -- every good event exactly once, with the content validation gives it ----------
    hmac = Pseudonymizer({1: TEST_HMAC_KEY}, 1)
    decoded = [from_avro(CODEC.decode(m.value() or b"", {EXCHANGE_EVENT})[1]) for m in events]
    ours = [e for e in decoded if e.platform in summary.platforms]
    got_ids = Counter((e.platform, e.event_id) for e in ours)
    assert all(n == 1 for n in got_ids.values()), "an event was forwarded twice"
    good = summary.good_records()
    assert set(got_ids) == {(s.record.platform, s.record.event_id) for s in good}
    by_id = {(e.platform, e.event_id): e for e in ours}
    for sent in good:
        rec = sent.record
        assert rec.datum is not None
        want = to_exchange_event(rec.platform, rec.schema_name, rec.datum, hmac, sim.now_ms, 0)
        got = by_id[(rec.platform, rec.event_id)]
        assert (got.borrower_id, got.occurred_at_ms, got.loan, got.activity) == (
            want.borrower_id,
            want.occurred_at_ms,
            want.loan,
            want.activity,
        )

    # -- every bad record rejected with the right reason and its original bytes -------
    expected = summary.expected_rejects()
    raw_by_key = {s.reject_key: s.record.raw for s in summary.sent if s.record.bad}
    seen: dict[str, Reject] = {}
    for platform in summary.platforms:
        for reject in read_rejects(conf, platform):
            assert isinstance(reject, Reject)
            seen[reject.key] = reject
    assert {k: r.reason for k, r in seen.items()} == {k: str(v) for k, v in expected.items()}
    for key, reject in seen.items():
        assert reject.original == raw_by_key[key]

    # -- metrics agree with what was sent -----------------------------------------------
    def metric(name: str, **labels: str) -> float:
        want = set(labels.items())
        return sum(v for (n, ls), v in samples.items() if n == name and want <= set(ls))

    for platform, count in summary.good_by_platform.items():
        assert metric("creditstream_events_in_total", platform=platform) == count
    for (platform, reason), count in summary.bad_by_platform().items():
        assert metric("creditstream_rejects_total", platform=platform, reason=reason) == count
    assert metric("creditstream_events_forwarded_total") == summary.good
    assert metric("creditstream_ready", stage="ingress") == 1

    # -- no raw national ID anywhere downstream of ingress ------------------------------
    ids = {r.record.datum["national_id"] for r in good if r.record.datum}
    needles = {i.encode() for i in ids} | {normalize_national_id(i).encode() for i in ids}
    haystacks = {
        "exchange.events": b"".join((m.key() or b"") + (m.value() or b"") for m in events),
        "worker log": log_text.encode(),
        "dedup changelog": b"".join(
            (m.key() or b"") + (m.value() or b"")
            for m in consume_all(conf, topics.INGRESS_DEDUP, expected=summary.good, timeout=30)
        ),
    }
    for path in state_dir.rglob("*"):
        if path.is_file():
            haystacks[str(path)] = path.read_bytes()
    for where, blob in haystacks.items():
        leaked = [n for n in needles if n in blob]
        assert not leaked, f"{len(leaked)} raw national IDs found in {where}"

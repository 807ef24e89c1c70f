"""A real Prometheus server scrapes a real ``creditstream worker`` doing real work.

The worker ingests simulated platform traffic (with bad records and re-sends), builds
profiles, and feeds a bank that subscribed to some borrowers (another bank, never
provisioned, waits; an internal record is undecodable; an objection is refused);
Prometheus, scraping the worker's own ``/metrics``, must then hold every metric family
``streams.runtime.metrics`` declares, and the counts it stores must match what was sent.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient
from prometheus_client import CollectorRegistry

from streams import topics
from streams.commands.simulate import SimulationConfig, run_simulation
from streams.domain.privacy import Pseudonymizer, normalize_national_id
from streams.runtime.metrics import Metrics
from streams.runtime.provision import ensure_bank
from streams.sdk.rights import file_dispute
from streams.sdk.subscriber import BankSubscriber
from streams.settings import Settings
from streams.simulator.load import SimConfig, national_ids
from tests.integration.kafka_helpers import consume_all, create_topics, unique
from tests.integration.test_prometheus_scrape import (
    api,
    expected_series_names,
    running_prometheus,
    wait_for_series,
)
from tests.integration.workers import TEST_HMAC_KEY, running_worker, worker_env
from tests.waiting import NotYet, eventually

pytestmark = pytest.mark.slow


def test_prometheus_sees_every_family_from_a_working_worker(
    private_bootstrap: str, tmp_path: Path
) -> None:
    env = worker_env(private_bootstrap)
    settings = Settings(bootstrap=private_bootstrap, partitions=2)
    sim = SimConfig(
        now_ms=int(time.time() * 1000),
        events=1500,
        borrowers=60,
        bad_share=0.02,
        seed=5,
        platform_prefix="m" + unique("m")[-5:] + "-",
    )
    bank = "prombank"
    conf = {"bootstrap.servers": private_bootstrap}
    ensure_bank(conf, bank, 2)
    # A bank whose subscriptions topic was made by hand, never provisioned: it waits.
    create_topics(conf, [topics.subscriptions("ghostbank")], 2)
    with running_worker(env) as worker:
        # One internal record nobody can decode (the worker made the topic): a dead letter.
        junk = Producer(conf | {"acks": "all"})
        junk.produce(topics.EXCHANGE_EVENTS, b"junk", b"borrower-x")
        assert junk.flush(30) == 0
        with BankSubscriber(bank, settings) as sub:
            expires = datetime.now(UTC) + timedelta(days=30)
            for i, national_id in enumerate(national_ids(sim, 10)):
                sub.subscribe(national_id, f"c{i}", f"consent-{i}", "CREDIT_APPLICATION", expires)
        # Only once the consents are in place will profile changes be delivered (and
        # event-to-feed latency observed): wait for the ten answers on the bank's feed.
        answers = consume_all(conf, topics.feed(bank), expected=10, timeout=60)
        assert len(answers) == 10
        summary = run_simulation(settings, SimulationConfig(sim=sim))
        # An objection against a loan nobody reported: refused, and counted.
        platform = min(
            parsed[0]
            for t in AdminClient(conf).list_topics(timeout=10).topics
            if (parsed := topics.platform_of(t)) is not None
            and parsed[0].startswith(sim.platform_prefix)
        )
        nid = normalize_national_id(national_ids(sim, 1)[0])
        pseudo = Pseudonymizer({1: TEST_HMAC_KEY}, 1)
        file_dispute(settings, pseudo, nid, platform, "no-such-loan", "not mine", "operator")
        target = f"127.0.0.1:{env['CREDITSTREAM_WEB_PORT']}"
        with running_prometheus(target, tmp_path) as prometheus:
            want = expected_series_names(Metrics(CollectorRegistry()).registry)
            wait_for_series(prometheus, want, timeout=90)

            def events_in() -> float | NotYet:
                query = "sum(creditstream_events_in_total)"
                (sample,) = api(prometheus, "/api/v1/query", query=query)["result"]
                got = float(sample["value"][1])
                return got if got >= summary.good else NotYet(f"{got:g} of {summary.good}")

            what = "Prometheus counted every good event"
            assert eventually(events_in, what=what, timeout=60, interval=1) == summary.good
            (rejects,) = api(prometheus, "/api/v1/query", query="sum(creditstream_rejects_total)")[
                "result"
            ]
            assert float(rejects["value"][1]) == summary.bad
            deliveries = api(
                prometheus,
                "/api/v1/query",
                query=f'sum(creditstream_feed_deliveries_total{{bank="{bank}"}})',
            )["result"]
            assert deliveries and float(deliveries[0]["value"][1]) > 0
            # Every stage committed transactions, each timed (step 4 of the loop).
            commits = api(
                prometheus,
                "/api/v1/query",
                query="sum by (stage) (creditstream_stage_commit_seconds_count)",
            )["result"]
            counted = {s["metric"]["stage"]: float(s["value"][1]) for s in commits}
            assert set(counted) == {"ingress", "consents", "borrower"}
            assert all(n > 0 for n in counted.values()), counted
        assert worker.alive()

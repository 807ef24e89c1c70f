"""streams.runtime.metrics: every family registered once, every helper moves what it names."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from streams.runtime.metrics import FAMILIES, LATENCY_BUCKETS, Metrics


@pytest.fixture
def reg() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def m(reg: CollectorRegistry) -> Metrics:
    return Metrics(reg)


def value(reg: CollectorRegistry, name: str, **labels: str) -> float:
    got = reg.get_sample_value(name, labels)
    assert got is not None, f"no sample {name}{labels}"
    return got


def exposed_families(reg: CollectorRegistry) -> set[str]:
    """Family names as Prometheus sees them (parsing the text exposition)."""
    text = generate_latest(reg).decode()
    names = set()
    for fam in text_string_to_metric_families(text):
        # The parser strips _total/_info from counters/info; Prometheus stores the sample name.
        suffix = {"counter": "_total", "info": "_info"}.get(fam.type, "")
        names.add(fam.name + suffix)
    return names


def test_every_declared_family_is_registered_and_nothing_else(m: Metrics) -> None:
    assert len(FAMILIES) == len(set(FAMILIES))
    exposed = {n for n in exposed_families(m.registry) if not n.endswith("_created")}
    assert exposed == set(FAMILIES)


def test_names_follow_conventions() -> None:
    for name in FAMILIES:
        assert name.startswith("creditstream_"), name
        assert name == name.lower()


def test_a_second_metrics_on_the_same_registry_is_refused(m: Metrics) -> None:
    with pytest.raises(ValueError, match="Duplicated timeseries"):
        Metrics(m.registry)


def test_two_registries_are_independent() -> None:
    a, b = Metrics(CollectorRegistry()), Metrics(CollectorRegistry())
    a.rejects_for("acme", "not_avro").inc()
    assert b.registry.get_sample_value("creditstream_rejects_total", {}) is None
    assert value(a.registry, "creditstream_rejects_total", platform="acme", reason="not_avro") == 1


def test_events_in_rejects_duplicates(reg: CollectorRegistry, m: Metrics) -> None:
    m.events_in_for("acme", "repayment").inc()
    m.events_in_for("acme", "repayment").inc(2)
    m.events_in_for("zeta", "purchase").inc()
    m.rejects_for("acme", "negative_amount").inc()
    m.duplicates_for("acme").inc(3)
    assert value(reg, "creditstream_events_in_total", platform="acme", kind="repayment") == 3
    assert value(reg, "creditstream_events_in_total", platform="zeta", kind="purchase") == 1
    assert value(reg, "creditstream_rejects_total", platform="acme", reason="negative_amount") == 1
    assert value(reg, "creditstream_duplicates_total", platform="acme") == 3


def test_prebound_children_are_cached(m: Metrics) -> None:
    assert m.events_in_for("p", "k") is m.events_in_for("p", "k")
    assert m.events_in_for("p", "k") is not m.events_in_for("p", "other")
    assert m.rejects_for("p", "r") is m.rejects_for("p", "r")
    assert m.duplicates_for("p") is m.duplicates_for("p")
    assert m.latency_for("bank-a") is m.latency_for("bank-a")
    assert m.alerts_for("default") is m.alerts_for("default")
    assert m.deliveries_for("bank-a", "credit") is m.deliveries_for("bank-a", "credit")
    assert m.last_event_for("p") is m.last_event_for("p")
    # the cached child is the registry's own child, not a detached copy
    assert m.rejects_for("p", "r") is m.rejects.labels("p", "r")


def test_unlabelled_counters(reg: CollectorRegistry, m: Metrics) -> None:
    m.events_forwarded.inc(5)
    m.profile_updates.inc(4)
    m.audit_records.inc(2)
    assert value(reg, "creditstream_events_forwarded_total") == 5
    assert value(reg, "creditstream_profile_updates_total") == 4
    assert value(reg, "creditstream_audit_records_total") == 2


def test_alerts_and_deliveries(reg: CollectorRegistry, m: Metrics) -> None:
    m.alerts_for("multi_lending").inc()
    m.deliveries_for("bank-a", "credit_decision").inc(7)
    assert value(reg, "creditstream_alerts_total", kind="multi_lending") == 1
    assert (
        value(reg, "creditstream_feed_deliveries_total", bank="bank-a", purpose="credit_decision")
        == 7
    )


def test_event_to_feed_latency(reg: CollectorRegistry, m: Metrics) -> None:
    m.observe_event_to_feed("bank-a", ingest_ts=100.0, now=100.004)
    m.observe_event_to_feed("bank-a", ingest_ts=100.0, now=99.0)  # skew: clamps to 0
    m.observe_event_to_feed("bank-b", ingest_ts=100.0, now=112.0)
    name = "creditstream_event_to_feed_latency_seconds"
    assert value(reg, f"{name}_count", bank="bank-a") == 2
    assert value(reg, f"{name}_sum", bank="bank-a") == pytest.approx(0.004)
    assert value(reg, f"{name}_bucket", bank="bank-a", le="0.001") == 1
    assert value(reg, f"{name}_bucket", bank="bank-a", le="0.005") == 2
    assert value(reg, f"{name}_bucket", bank="bank-b", le="10.0") == 0
    assert value(reg, f"{name}_bucket", bank="bank-b", le="30.0") == 1
    assert LATENCY_BUCKETS[0] == 0.001 and LATENCY_BUCKETS[-1] == 30.0


def test_ingress_batch_duration(reg: CollectorRegistry, m: Metrics) -> None:
    m.ingress_batch_duration.observe(0.02)
    name = "creditstream_ingress_batch_duration_seconds"
    assert value(reg, f"{name}_count") == 1
    assert value(reg, f"{name}_bucket", le="0.025") == 1
    assert value(reg, f"{name}_bucket", le="0.01") == 0


def test_lag_set_clamped_and_forgotten(reg: CollectorRegistry, m: Metrics) -> None:
    m.set_lag("ingest.acme.loans", 3, 42)
    assert value(reg, "creditstream_consumer_lag_records", topic="ingest.acme.loans", partition="3")
    m.set_lag("ingest.acme.loans", 3, -5)
    assert (
        value(reg, "creditstream_consumer_lag_records", topic="ingest.acme.loans", partition="3")
        == 0
    )
    m.forget_partition("ingest.acme.loans", 3)
    m.forget_partition("ingest.acme.loans", 3)  # idempotent
    labels = {"topic": "ingest.acme.loans", "partition": "3"}
    assert reg.get_sample_value("creditstream_consumer_lag_records", labels) is None


def test_table_recovery_readiness(reg: CollectorRegistry, m: Metrics) -> None:
    m.set_table_entries("profiles", 1234)
    m.set_recovery("profiles", 0.5)
    assert value(reg, "creditstream_recovery_progress_ratio", stage="profiles") == 0.5
    m.set_recovery("profiles", 1.7)
    assert value(reg, "creditstream_recovery_progress_ratio", stage="profiles") == 1.0
    m.set_recovery("ingress", -1)
    assert value(reg, "creditstream_recovery_progress_ratio", stage="ingress") == 0.0
    m.set_recovery("profiles", 0.25, remaining=3000)
    assert value(reg, "creditstream_recovery_remaining_records", stage="profiles") == 3000
    m.set_recovery("profiles", 1.0, remaining=-5)
    assert value(reg, "creditstream_recovery_remaining_records", stage="profiles") == 0
    m.recovery_restored.labels("profiles").inc(1000)
    m.set_ready("profiles", True)
    m.set_ready("fanout", False)
    assert value(reg, "creditstream_table_entries", table="profiles") == 1234
    assert value(reg, "creditstream_recovery_restored_total", stage="profiles") == 1000
    assert value(reg, "creditstream_ready", stage="profiles") == 1
    assert value(reg, "creditstream_ready", stage="fanout") == 0
    m.set_ready("fanout", True)
    assert value(reg, "creditstream_ready", stage="fanout") == 1


def test_platform_seen(reg: CollectorRegistry, m: Metrics) -> None:
    m.platform_seen("acme", when=1_700_000_000.5)
    name = "creditstream_platform_last_event_timestamp_seconds"
    assert value(reg, name, platform="acme") == 1_700_000_000.5
    m.platform_seen("acme")
    assert value(reg, name, platform="acme") > 1_700_000_000.5


def test_worker_info(reg: CollectorRegistry, m: Metrics) -> None:
    m.set_worker_info(version="0.1.0", app_id="creditstream", worker_id="w-1")
    labels = {"version": "0.1.0", "app_id": "creditstream", "worker_id": "w-1"}
    assert value(reg, "creditstream_worker_info", **labels) == 1

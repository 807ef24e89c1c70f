"""Every Prometheus metric of the exchange, declared once, on a registry passed in.

``Metrics(registry)`` registers every family on ``registry`` (tests build their own
``CollectorRegistry``; a worker builds one per process). Names follow Prometheus
conventions: counters end in ``_total``, durations are ``_seconds``, timestamps
``_timestamp_seconds``. ``FAMILIES`` lists every family as Prometheus stores it (the
text exposition's ``# TYPE`` names); dashboards, alert rules and tests refer to it.

Hot paths (per event) must not call ``labels()`` (~2 µs): the ``*_for(...)`` helpers
return the bound child from a small cache (~0.1 µs), the same object on every call.
Label values must have bounded cardinality: platform and bank names come from topic
names, reasons/kinds/purposes from closed enums. No personal data ever goes in a label.
No Kafka import: any process can build one.
"""

from __future__ import annotations

import contextlib
import time
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info

#: Event-to-feed latency: 1 ms (same batch) to 30 s (recovery, rebalance) and beyond.
LATENCY_BUCKETS: Final = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
)  # fmt: skip
#: One ingress batch (decode, validate, transactional write, commit): 1 ms to 10 s.
BATCH_BUCKETS: Final = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

#: Every metric family, named as Prometheus stores it (histograms add _bucket/_sum/_count).
FAMILIES: Final = (
    "creditstream_events_in_total",
    "creditstream_rejects_total",
    "creditstream_duplicates_total",
    "creditstream_events_forwarded_total",
    "creditstream_event_to_feed_latency_seconds",
    "creditstream_ingress_batch_duration_seconds",
    "creditstream_profile_updates_total",
    "creditstream_profile_amounts_saturated_total",
    "creditstream_alerts_total",
    "creditstream_feed_deliveries_total",
    "creditstream_consent_requests_total",
    "creditstream_audit_records_total",
    "creditstream_consumer_lag_records",
    "creditstream_table_entries",
    "creditstream_recovery_progress_ratio",
    "creditstream_recovery_restored_total",
    "creditstream_ready",
    "creditstream_stage_restarts_total",
    "creditstream_tenant_partitions_waiting",
    "creditstream_dead_letters_total",
    "creditstream_fast_path",
    "creditstream_platform_last_event_timestamp_seconds",
    "creditstream_worker_info",
)


class Metrics:
    """The exchange's metrics on one registry; see the module docstring for the rules."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        r = registry
        # Valid events accepted at ingress, by platform (from the topic) and event type
        # (loan event type or activity kind). Rejected records are not counted here.
        self.events_in = Counter(
            "creditstream_events_in",
            "Events accepted at ingress.",
            ["platform", "kind"],
            registry=r,
        )
        # Records refused at ingress (sent to ingest.<p>.rejected), by reason code.
        # Reject ratio = rejects / (rejects + events_in), per platform.
        self.rejects = Counter(
            "creditstream_rejects",
            "Records rejected at ingress.",
            ["platform", "reason"],
            registry=r,
        )
        # Records whose event_id was already seen: counted, never re-applied.
        self.duplicates = Counter(
            "creditstream_duplicates", "Duplicate event_ids at ingress.", ["platform"], registry=r
        )
        # Pseudonymized events written to exchange.events.
        self.events_forwarded = Counter(
            "creditstream_events_forwarded", "Events written to exchange.events.", registry=r
        )
        # From an event's ingest time (broker timestamp on ingest.<p>.*) to its feed write.
        self.event_to_feed_latency = Histogram(
            "creditstream_event_to_feed_latency_seconds",
            "Latency from ingest to a bank's feed write.",
            ["bank"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        # Wall time of one ingress batch: fetch done to transaction committed.
        self.ingress_batch_duration = Histogram(
            "creditstream_ingress_batch_duration_seconds",
            "Duration of one ingress batch.",
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        # Borrower profiles changed (one per applied event that changed a profile).
        self.profile_updates = Counter(
            "creditstream_profile_updates", "Borrower profile updates.", registry=r
        )
        # Profiles published with an aggregate amount clamped to decimal(18, 2)'s maximum
        # (streams.stages.profiles.batch): the feed keeps going, someone must look.
        self.profile_amounts_saturated = Counter(
            "creditstream_profile_amounts_saturated",
            "Profiles published with an amount clamped to the schema's maximum.",
            registry=r,
        )
        # Alerts raised on profile transitions, by kind (streams.domain.profile.alerts.AlertKind).
        self.alerts = Counter("creditstream_alerts", "Alerts raised.", ["kind"], registry=r)
        # Records written to banks.<b>.feed, by bank and consent purpose (billing meter).
        self.feed_deliveries = Counter(
            "creditstream_feed_deliveries",
            "Feed records delivered to banks.",
            ["bank", "purpose"],
            registry=r,
        )
        # Subscription requests from banks: outcome "accepted" (forwarded to the fan-out)
        # or the refusal reason (streams.domain.consent.ConsentReason), answered on the feed.
        self.consent_requests = Counter(
            "creditstream_consent_requests",
            "Bank subscription requests, by outcome.",
            ["bank", "outcome"],
            registry=r,
        )
        # AuditRecords written to exchange.audit (must equal deliveries over time).
        self.audit_records = Counter(
            "creditstream_audit_records", "Audit records written.", registry=r
        )
        # Log end offset minus committed offset, per assigned input partition.
        self.consumer_lag = Gauge(
            "creditstream_consumer_lag_records",
            "Consumer lag in records.",
            ["topic", "partition"],
            registry=r,
        )
        # Entries held in a state table on this worker (e.g. table="profiles").
        self.table_entries = Gauge(
            "creditstream_table_entries", "Entries in a state table.", ["table"], registry=r
        )
        # Changelog recovery of a stage's state: 0 at start, 1 when caught up.
        self.recovery_progress = Gauge(
            "creditstream_recovery_progress_ratio",
            "State recovery progress (0..1).",
            ["stage"],
            registry=r,
        )
        # State entries (profiles, dedup ids) restored from changelogs.
        self.recovery_restored = Counter(
            "creditstream_recovery_restored",
            "State entries restored during recovery.",
            ["stage"],
            registry=r,
        )
        # 1 when a stage (ingress, profiles, fanout, ...) is serving, else 0.
        self.ready = Gauge("creditstream_ready", "Stage readiness (0/1).", ["stage"], registry=r)
        # A stage loop failed (broker gone, fenced zombie, ...) and was restarted in place:
        # it rebuilt its clients and state from Kafka. Steady growth means a lasting fault.
        self.stage_restarts = Counter(
            "creditstream_stage_restarts",
            "Stage loops restarted after a failure.",
            ["stage"],
            registry=r,
        )
        # Input partitions of a tenant (platform or bank) that a stage leaves unread because
        # the tenant's answer topic (ingest.<p>.rejected, banks.<b>.feed) does not exist:
        # the tenant is not provisioned. Non-zero means records wait; provision the tenant.
        self.tenant_partitions_waiting = Gauge(
            "creditstream_tenant_partitions_waiting",
            "Partitions of an unprovisioned tenant left unread.",
            ["stage", "tenant"],
            registry=r,
        )
        # Internal records a stage could not decode, written to exchange.dead-letter (a
        # bug upstream: any increase deserves a look), by stage and reason code.
        self.dead_letters = Counter(
            "creditstream_dead_letters",
            "Internal records sent to the dead-letter topic.",
            ["stage", "reason"],
            registry=r,
        )
        # 1 when a stage's hand-written byte path runs (part="decode" or "encode"), 0 when
        # it fell back to the generic codec at start (schemas it does not know): the
        # same bytes, several times the CPU per event.
        self.fast_path = Gauge(
            "creditstream_fast_path",
            "Hand-written Avro path in use (1) or the generic codec (0).",
            ["stage", "part"],
            registry=r,
        )
        # Unix time this worker last received a record from a platform (arrival, not
        # event time): the "platform silent" alert compares it with the platform's cadence.
        self.platform_last_event = Gauge(
            "creditstream_platform_last_event_timestamp_seconds",
            "Last time a record arrived from a platform.",
            ["platform"],
            registry=r,
        )
        # Constant 1 with the worker's identity (version, app id, worker id) as labels.
        self.worker = Info("creditstream_worker", "Worker identity.", registry=r)

        self._events_in: dict[tuple[str, str], Counter] = {}
        self._rejects: dict[tuple[str, str], Counter] = {}
        self._duplicates: dict[str, Counter] = {}
        self._latency: dict[str, Histogram] = {}
        self._alerts: dict[str, Counter] = {}
        self._deliveries: dict[tuple[str, str], Counter] = {}
        self._last_event: dict[str, Gauge] = {}

    # -- pre-bound children for hot paths (same object on every call) -----------------
    def events_in_for(self, platform: str, kind: str) -> Counter:
        """``events_in{platform, kind}`` child."""
        try:
            return self._events_in[(platform, kind)]
        except KeyError:
            child = self._events_in[(platform, kind)] = self.events_in.labels(platform, kind)
            return child

    def rejects_for(self, platform: str, reason: str) -> Counter:
        """``rejects{platform, reason}`` child."""
        try:
            return self._rejects[(platform, reason)]
        except KeyError:
            child = self._rejects[(platform, reason)] = self.rejects.labels(platform, reason)
            return child

    def duplicates_for(self, platform: str) -> Counter:
        """``duplicates{platform}`` child."""
        try:
            return self._duplicates[platform]
        except KeyError:
            child = self._duplicates[platform] = self.duplicates.labels(platform)
            return child

    def latency_for(self, bank: str) -> Histogram:
        """``event_to_feed_latency_seconds{bank}`` child."""
        try:
            return self._latency[bank]
        except KeyError:
            child = self._latency[bank] = self.event_to_feed_latency.labels(bank)
            return child

    def alerts_for(self, kind: str) -> Counter:
        """``alerts{kind}`` child."""
        try:
            return self._alerts[kind]
        except KeyError:
            child = self._alerts[kind] = self.alerts.labels(kind)
            return child

    def deliveries_for(self, bank: str, purpose: str) -> Counter:
        """``feed_deliveries{bank, purpose}`` child."""
        try:
            return self._deliveries[(bank, purpose)]
        except KeyError:
            child = self._deliveries[(bank, purpose)] = self.feed_deliveries.labels(bank, purpose)
            return child

    def last_event_for(self, platform: str) -> Gauge:
        """``platform_last_event_timestamp_seconds{platform}`` child."""
        try:
            return self._last_event[platform]
        except KeyError:
            child = self._last_event[platform] = self.platform_last_event.labels(platform)
            return child

    # -- convenience updates (not per event, or per batch) ----------------------------
    def observe_event_to_feed(self, bank: str, ingest_ts: float, now: float | None = None) -> None:
        """Observe ``now - ingest_ts`` (unix seconds) for ``bank``; clock skew clamps to 0."""
        elapsed = (time.time() if now is None else now) - ingest_ts
        self.latency_for(bank).observe(max(0.0, elapsed))

    def platform_seen(self, platform: str, when: float | None = None) -> None:
        """Record that a record from ``platform`` arrived at ``when`` (default: now)."""
        self.last_event_for(platform).set(time.time() if when is None else when)

    def set_lag(self, topic: str, partition: int, lag: int) -> None:
        """Set the lag of one input partition (negative values clamp to 0)."""
        self.consumer_lag.labels(topic, str(partition)).set(max(0, lag))

    def forget_partition(self, topic: str, partition: int) -> None:
        """Drop a revoked partition's lag series so it does not freeze at its last value."""
        with contextlib.suppress(KeyError):
            self.consumer_lag.remove(topic, str(partition))

    def set_table_entries(self, table: str, entries: int) -> None:
        """Set how many entries ``table`` holds on this worker."""
        self.table_entries.labels(table).set(entries)

    def set_recovery(self, stage: str, progress: float) -> None:
        """Set ``stage``'s recovery progress, clamped to 0..1."""
        self.recovery_progress.labels(stage).set(min(1.0, max(0.0, progress)))

    def set_ready(self, stage: str, ready: bool) -> None:
        """Set ``stage``'s readiness gauge to 1 or 0."""
        self.ready.labels(stage).set(1 if ready else 0)

    def stage_restarted(self, stage: str) -> None:
        """Count one in-place restart of ``stage``."""
        self.stage_restarts.labels(stage).inc()

    def set_tenant_waiting(self, stage: str, tenant: str, partitions: int) -> None:
        """Set how many of ``tenant``'s partitions ``stage`` leaves unread (0 drops it)."""
        if partitions:
            self.tenant_partitions_waiting.labels(stage, tenant).set(partitions)
        else:
            with contextlib.suppress(KeyError):
                self.tenant_partitions_waiting.remove(stage, tenant)

    def set_worker_info(self, *, version: str, app_id: str, worker_id: str) -> None:
        """Publish this worker's identity as ``creditstream_worker_info``."""
        self.worker.info({"version": version, "app_id": app_id, "worker_id": worker_id})

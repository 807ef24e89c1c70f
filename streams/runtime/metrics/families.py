"""Every metric family of the exchange, declared once, with what it counts.

Contract: ``Families(registry)`` registers every family on ``registry`` and holds each
as an attribute (``events_in``, ``rejects``, ...); a comment above each says what it
counts and by which labels. :data:`FAMILIES` lists every family as Prometheus stores it
(the text exposition's ``# TYPE`` names, histograms adding ``_bucket``/``_sum``/
``_count``): dashboards, alert rules and tests refer to it, and tests/unit/test_metrics.py
checks it names exactly what is registered. Counters end in ``_total``, durations are
``_seconds``, timestamps ``_timestamp_seconds``; label values come from topic names or
closed enums, never personal data.
"""

from __future__ import annotations

from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info

#: Event-to-feed latency: 1 ms (same batch) to 30 s (recovery, rebalance) and beyond.
LATENCY_BUCKETS: Final = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
)  # fmt: skip
#: One ingress batch (decode, validate, transactional write, commit), or one stage's
#: commit: 1 ms to 10 s.
BATCH_BUCKETS: Final = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

#: What a regulator's lookup on the status page can come to (``status_lookups``).
LOOKUP_OUTCOMES: Final = ("answered", "missing", "wrong", "disabled", "invalid", "failed")

#: Every metric family, named as Prometheus stores it (histograms add _bucket/_sum/_count).
FAMILIES: Final = (
    "creditstream_events_in_total",
    "creditstream_rejects_total",
    "creditstream_duplicates_total",
    "creditstream_events_forwarded_total",
    "creditstream_event_to_feed_latency_seconds",
    "creditstream_ingress_batch_duration_seconds",
    "creditstream_stage_commit_seconds",
    "creditstream_profile_updates_total",
    "creditstream_profile_amounts_saturated_total",
    "creditstream_alerts_total",
    "creditstream_feed_deliveries_total",
    "creditstream_consent_requests_total",
    "creditstream_audit_records_total",
    "creditstream_disputes_total",
    "creditstream_status_lookups_total",
    "creditstream_consumer_lag_records",
    "creditstream_table_entries",
    "creditstream_recovery_progress_ratio",
    "creditstream_recovery_restored_total",
    "creditstream_recovery_remaining_records",
    "creditstream_state_bytes",
    "creditstream_ready",
    "creditstream_stage_restarts_total",
    "creditstream_tenant_partitions_waiting",
    "creditstream_dead_letters_total",
    "creditstream_fast_path",
    "creditstream_platform_last_event_timestamp_seconds",
    "creditstream_worker_info",
)


class Families:
    """Every family of the exchange, registered on ``registry``."""

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
        # Step 4 of each committed batch, by stage: its offsets into the transaction and
        # commit_transaction (streams.runtime.loop). A broker round trip whose time grows
        # with the broker's load and the partitions the transaction wrote (each gets a
        # commit marker; bench/bench_txn_cost.py); _count is the stage's transactions.
        self.stage_commit = Histogram(
            "creditstream_stage_commit_seconds",
            "Time to commit one stage transaction (offsets and commit).",
            ["stage"],
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        # Borrower profiles changed (one per applied event that changed a profile).
        self.profile_updates = Counter(
            "creditstream_profile_updates", "Borrower profile updates.", registry=r
        )
        # Profiles published with an aggregate amount clamped to decimal(18, 2)'s maximum
        # (streams.stages.borrower.fold): the feed keeps going, someone must look.
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
        # Subscription requests from banks: outcome "accepted" (forwarded to the borrower stage)
        # or the refusal reason (streams.domain.consent.ConsentReason), answered on the feed.
        self.consent_requests = Counter(
            "creditstream_consent_requests",
            "Bank subscription requests, by outcome.",
            ["bank", "outcome"],
            registry=r,
        )
        # Borrowers' objections by the platform whose record they contest: opened, refused
        # (no such record, already disputed) and each outcome (corrected, confirmed,
        # not_verified: the platform let the deadline pass).
        self.disputes = Counter(
            "creditstream_disputes",
            "Objections against platforms' records, by what happened to them.",
            ["platform", "outcome"],
            registry=r,
        )
        # Regulators' lookups on the status page (streams.worker.status) by outcome:
        # answered, missing / wrong (credential), disabled, invalid (form or ID), failed.
        self.status_lookups = Counter(
            "creditstream_status_lookups",
            "Regulator lookups on the status page, by outcome.",
            ["outcome"],
            registry=r,
        )
        for outcome in LOOKUP_OUTCOMES:  # zeros from the start: a rise is what alerts
            self.status_lookups.labels(outcome)
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
        # Entries held in a state table on this worker (e.g. table="borrowers"). With
        # state on disk it is RocksDB's estimate-num-keys: keys overwritten since the
        # last compaction count again (74,223 keys read as 197,338 in one measurement),
        # so it tracks growth, not the number of borrowers.
        self.table_entries = Gauge(
            "creditstream_table_entries",
            "Entries in a state table (state on disk: RocksDB's estimate, above the true "
            "count until compaction).",
            ["table"],
            registry=r,
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
        # Changelog records a stage still has to replay before it is ready (0 once caught
        # up): with rate(creditstream_recovery_restored_total) it gives the time left.
        self.recovery_remaining = Gauge(
            "creditstream_recovery_remaining_records",
            "Changelog records still to replay before the stage is ready.",
            ["stage"],
            registry=r,
        )
        # Bytes of a stage's local state: its RocksDB files (write-ahead log included)
        # with state_store=disk, its record bytes when kept in memory.
        self.state_bytes = Gauge(
            "creditstream_state_bytes", "Bytes of a stage's local state.", ["stage"], registry=r
        )
        # 1 when a stage (ingress, consents, borrower) is serving, else 0.
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
        # 1 when a stage's hand-written byte path runs (the borrower's part="decode",
        # "encode" or "deliveries": feed and audit records; ingress's "transcode"), 0 when
        # it fell back to the generic codec at start (schemas it does not know): the
        # same bytes, several times the CPU per event. part="compiled": the stage's hot
        # path runs as mypyc's extensions (streams.native), 0 when it runs its source.
        self.fast_path = Gauge(
            "creditstream_fast_path",
            "Fast path in use (1): hand-written Avro (not the generic codec), compiled hot path.",
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

"""Borrower stage -> Prometheus: what each committed batch did, counted once, after commit.

Counting after the transaction commits means an aborted (and redone) batch is never
counted twice. Per batch: ProfileUpdate records written
(``creditstream_profile_updates_total``), profiles published with a clamped amount
(``creditstream_profile_amounts_saturated_total``), alerts by kind, deliveries that
carry data by bank and purpose (the billing meter, equal to the audit records written),
audit records, objections by platform and outcome
(``creditstream_disputes_total``), event-to-feed latency per bank (from the
``ingested_at`` of the events behind each update to the commit that made the feed
record visible: every bank is served in the same transaction, so the per-bank
histograms show neutrality rather than
assume it), and the borrowers held (``creditstream_table_entries{table="borrowers"}``,
RocksDB's estimate with state on disk);
per recovery: records replayed and progress; every tick: consumer lag of
exchange.events and exchange.consents.
"""

from __future__ import annotations

import time
from collections import Counter

from confluent_kafka import Consumer

from streams.runtime.deadletter import dead_letters_hook
from streams.runtime.lag import LagReporter
from streams.runtime.metrics import Metrics
from streams.stages.borrower.batch import Outcome
from streams.stages.borrower.stage import BatchHook, BorrowerStage, RestoreHook
from streams.topics import platform_of_disputes

STAGE = "borrower"
TABLE = "borrowers"


def batch_hook(metrics: Metrics, stage: BorrowerStage) -> BatchHook:
    """Counts updates, alerts, deliveries, audit records and latency of a committed batch."""
    updates_total = metrics.profile_updates  # no labels: bound once
    saturated_total = metrics.profile_amounts_saturated

    def on_batch(outcome: Outcome, _events: int, _seconds: float) -> None:
        updates = saturated = 0
        for e in outcome.emits:
            updates += e.update is not None
            saturated += e.saturated
            for a in e.alerts:
                metrics.alerts_for(str(a.kind)).inc()
        if updates:
            updates_total.inc(updates)
        if saturated:
            saturated_total.inc(saturated)
        now = time.time()
        billed: Counter[tuple[str, str]] = Counter()  # one locked inc per series and batch
        for _p, d in outcome.deliveries:
            if d.audit is None:  # bare answers: no data, no audit, not billed
                continue
            billed[d.bank, str(d.audit["purpose"])] += 1
            ingested = d.record.get("ingested_at")
            if ingested is not None:
                metrics.observe_event_to_feed(d.bank, ingested / 1000, now)
        for (bank, purpose), n in billed.items():
            metrics.deliveries_for(bank, purpose).inc(n)
        if billed:
            metrics.audit_records.inc(billed.total())
        for topic, _key, datum in outcome.disputes:  # opened, answered or expired
            outcome_label = "opened" if datum["status"] == "OPEN" else datum["status"].lower()
            metrics.disputes.labels(platform_of_disputes(topic), outcome_label).inc()
        for platform in outcome.refused:
            metrics.disputes.labels(platform, "refused").inc()
        metrics.set_table_entries(TABLE, stage.store.size())

    return on_batch


def restore_hook(metrics: Metrics, stage: BorrowerStage) -> RestoreHook:
    """Recovery progress and records replayed."""
    restored = metrics.recovery_restored.labels(STAGE)

    def on_restore(records: int, progress: float, left: int) -> None:
        if records:
            restored.inc(records)
        metrics.set_recovery(STAGE, progress, left)
        metrics.set_table_entries(TABLE, stage.store.size())

    return on_restore


def install_metrics(stage: BorrowerStage, metrics: Metrics) -> None:
    """Attach every hook of this module to ``stage``."""
    stage.on_batch = batch_hook(metrics, stage)
    stage.on_restore = restore_hook(metrics, stage)
    stage.on_dead = dead_letters_hook(metrics, STAGE)
    metrics.fast_path.labels(STAGE, "decode").set(stage.decoder.fast)
    metrics.fast_path.labels(STAGE, "encode").set(stage.encoder.hand_written)
    metrics.fast_path.labels(STAGE, "deliveries").set(stage.deliveries.hand_written)
    lag = LagReporter(metrics.set_lag, metrics.forget_partition)
    state_bytes = metrics.state_bytes.labels(STAGE)

    def on_tick(consumer: Consumer) -> None:
        lag(consumer)
        state_bytes.set(stage.store.size_bytes())

    stage.on_tick = on_tick
    metrics.set_recovery(STAGE, stage.restore_progress)

"""Wire the fan-out stage from settings, report it to Prometheus, host it in the worker.

Metrics are counted once per committed batch (never for an aborted, redone one):
deliveries that carry data, by bank and purpose (the billing meter, equal to the audit
records written), audit records, and event-to-feed latency per bank, from the
``ingested_at`` of the events behind each profile update or alert to the commit that
made the feed record visible. Every bank is served by the same loop in the same
transaction, so the per-bank histograms show neutrality rather than assume it.
"""

from __future__ import annotations

import time

import faust
from confluent_kafka import Consumer

from streams.runtime.deadletter import dead_letters_hook
from streams.runtime.host import install_threaded_stage
from streams.runtime.lag import LagReporter
from streams.runtime.metrics import Metrics
from streams.runtime.registry import codec_for
from streams.settings import Settings
from streams.stages.fanout.batch import Outcome
from streams.stages.fanout.stage import BatchHook, FanoutStage

STAGE = "fanout"


def build_fanout(settings: Settings) -> FanoutStage:
    """A fan-out stage wired from settings."""
    return FanoutStage(settings, codec_for(settings.schema_registry_url))


def metrics_hook(metrics: Metrics) -> BatchHook:
    """A batch hook counting deliveries, audit records and event-to-feed latency."""

    def on_batch(outcome: Outcome, _seconds: float) -> None:
        now = time.time()
        audited = 0
        for _p, d in outcome.deliveries:
            if d.audit is None:  # bare answers: no data, no audit, not billed
                continue
            audited += 1
            metrics.deliveries_for(d.bank, str(d.audit["purpose"])).inc()
            ingested = d.record.get("ingested_at")
            if ingested is not None:
                metrics.observe_event_to_feed(d.bank, ingested / 1000, now)
        if audited:
            metrics.audit_records.inc(audited)

    return on_batch


def install_fanout(app: faust.App, stage: FanoutStage, metrics: Metrics) -> None:
    """Run ``stage`` as part of ``app``'s worker, reporting to ``metrics``."""
    stage.on_batch = metrics_hook(metrics)
    stage.on_dead = dead_letters_hook(metrics, STAGE)

    report_lag = LagReporter(metrics.set_lag, metrics.forget_partition)

    def on_tick(consumer: Consumer) -> None:
        report_lag(consumer)
        metrics.set_table_entries(STAGE, stage.store.size())
        metrics.set_recovery(STAGE, 1.0 if stage.ready.is_set() else 0.0)

    stage.on_tick = on_tick
    install_threaded_stage(app, STAGE, stage, metrics)

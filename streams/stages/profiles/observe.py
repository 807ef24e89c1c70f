"""Profile stage -> Prometheus: what each committed batch did, counted once, after commit.

Like ``streams.stages.ingress.observe``: counting after the transaction commits means an
aborted (and redone) batch is never counted twice. Per batch: ProfileUpdate records
written (``creditstream_profile_updates_total``), profiles published with a clamped
amount (``creditstream_profile_amounts_saturated_total``), alerts by kind, the
borrowers held (``creditstream_table_entries{table="profiles"}``); per recovery:
records replayed and progress (stage ``profiles``); every tick: consumer lag of
exchange.events.
"""

from __future__ import annotations

from streams.runtime.deadletter import dead_letters_hook
from streams.runtime.lag import LagReporter
from streams.runtime.loop import ConsumerHook
from streams.runtime.metrics import Metrics
from streams.stages.profiles.batch import Emit
from streams.stages.profiles.stage import BatchHook, ProfileStage, RestoreHook

STAGE = "profiles"
TABLE = "profiles"


def batch_hook(metrics: Metrics, stage: ProfileStage) -> BatchHook:
    """Counts updates and alerts of a committed batch; sets the table size."""
    updates_total = metrics.profile_updates  # no labels: bound once
    saturated_total = metrics.profile_amounts_saturated

    def on_batch(emits: list[Emit], events: int, seconds: float) -> None:
        updates = saturated = 0
        for e in emits:
            updates += e.update is not None
            saturated += e.saturated
            for a in e.alerts:
                metrics.alerts_for(a.kind.value).inc()
        if updates:
            updates_total.inc(updates)
        if saturated:
            saturated_total.inc(saturated)
        metrics.set_table_entries(TABLE, stage.store.size())

    return on_batch


def restore_hook(metrics: Metrics, stage: ProfileStage) -> RestoreHook:
    """Recovery progress and records replayed for stage ``profiles``."""
    restored = metrics.recovery_restored.labels(STAGE)

    def on_restore(records: int, progress: float) -> None:
        if records:
            restored.inc(records)
        metrics.set_recovery(STAGE, progress)
        metrics.set_table_entries(TABLE, stage.store.size())

    return on_restore


def lag_hook(metrics: Metrics) -> ConsumerHook:
    """Consumer lag of the assigned exchange.events partitions."""

    return LagReporter(metrics.set_lag, metrics.forget_partition)


def install_metrics(stage: ProfileStage, metrics: Metrics) -> None:
    """Attach every hook of this module to ``stage``."""
    stage.on_batch = batch_hook(metrics, stage)
    stage.on_restore = restore_hook(metrics, stage)
    stage.on_dead = dead_letters_hook(metrics, STAGE)
    metrics.fast_path.labels(STAGE, "decode").set(stage.decoder.fast)
    metrics.fast_path.labels(STAGE, "encode").set(stage.encoder.hand_written)
    stage.on_tick = lag_hook(metrics)
    metrics.set_recovery(STAGE, stage.restore_progress)

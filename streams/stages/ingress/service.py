"""Wire the ingress stage from settings and host it in the Faust worker."""

from __future__ import annotations

import logging

import faust
from confluent_kafka import Consumer

from streams.clock import DAY_MS
from streams.domain.privacy import pseudonymizer_from_settings
from streams.domain.validation import ValidationLimits
from streams.runtime.host import install_threaded_stage
from streams.runtime.lag import LagReporter
from streams.runtime.metrics import Metrics
from streams.runtime.registry import codec_for
from streams.runtime.state import open_store
from streams.settings import Settings
from streams.stages.ingress.dedup import Dedup
from streams.stages.ingress.observe import metrics_hook
from streams.stages.ingress.process import IngressProcessor, reject_guard
from streams.stages.ingress.stage import IngressStage

log = logging.getLogger(__name__)


def build_ingress(settings: Settings) -> IngressStage:
    """An ingress stage wired from settings (the key is required; see privacy)."""
    limits = ValidationLimits(
        max_clock_skew_ms=settings.max_clock_skew_ms, max_record_bytes=settings.max_record_bytes
    )
    processor = IngressProcessor(
        codec_for(settings.schema_registry_url),
        pseudonymizer_from_settings(
            settings.hmac_key, settings.hmac_key_file, settings.hmac_key_version
        ),
        limits,
        Dedup(
            settings.dedup_window_days * DAY_MS,
            settings.partitions,
            lambda c: open_store(settings, "ingress", c),
        ),
    )
    guard = reject_guard(settings.reject_guard_ratio, settings.reject_guard_window)
    return IngressStage(settings, processor, guard)


def install_ingress(app: faust.App, stage: IngressStage, metrics: Metrics) -> None:
    """Run ``stage`` as part of ``app``'s worker, reporting to ``metrics``."""
    stage.on_batch = metrics_hook(metrics)
    lag = LagReporter(metrics.set_lag, metrics.forget_partition)
    state_bytes = metrics.state_bytes.labels("ingress")

    def on_tick(consumer: Consumer) -> None:
        lag(consumer)
        state_bytes.set(stage.processor.dedup.size_bytes())

    stage.on_tick = on_tick
    stage.gate.report = metrics.set_tenant_waiting
    metrics.fast_path.labels("ingress", "transcode").set(stage.processor.transcoder.fast)
    install_threaded_stage(app, "ingress", stage, metrics)

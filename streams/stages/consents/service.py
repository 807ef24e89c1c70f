"""Wire the consent stage from settings and host it in the Faust worker."""

from __future__ import annotations

import faust

from streams.domain.consent import ConsentLimits
from streams.domain.privacy import pseudonymizer_from_settings
from streams.runtime.host import install_threaded_stage
from streams.runtime.lag import LagReporter
from streams.runtime.metrics import Metrics
from streams.runtime.registry import codec_for
from streams.settings import Settings
from streams.stages.consents.process import ConsentProcessor, Forward, Refusal
from streams.stages.consents.stage import BatchHook, ConsentStage


def build_consents(settings: Settings) -> ConsentStage:
    """A consent stage wired from settings (the HMAC key is required; see privacy)."""
    processor = ConsentProcessor(
        codec_for(settings.schema_registry_url),
        pseudonymizer_from_settings(
            settings.hmac_key, settings.hmac_key_file, settings.hmac_key_version
        ),
        ConsentLimits(max_clock_skew_ms=settings.max_clock_skew_ms),
        settings.max_record_bytes,
    )
    return ConsentStage(settings, processor)


def metrics_hook(metrics: Metrics) -> BatchHook:
    """Count each request by bank and outcome ("accepted" or the refusal reason)."""

    def on_batch(outcomes: list[Forward | Refusal]) -> None:
        for o in outcomes:
            outcome = "accepted" if isinstance(o, Forward) else str(o.reason)
            metrics.consent_requests.labels(o.bank, outcome).inc()

    return on_batch


def install_consents(app: faust.App, stage: ConsentStage, metrics: Metrics) -> None:
    """Run ``stage`` as part of ``app``'s worker, reporting to ``metrics``."""
    stage.on_batch = metrics_hook(metrics)
    stage.gate.report = metrics.set_tenant_waiting
    stage.on_tick = LagReporter(metrics.set_lag, metrics.forget_partition)
    install_threaded_stage(app, "consents", stage, metrics)

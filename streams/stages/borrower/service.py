"""Wire the borrower stage from settings and host it in the Faust worker.

Same shape as every stage's service: the confluent-kafka calls block, so the loop runs
in its own thread that starts and stops with the worker
(``streams.runtime.host.install_threaded_stage``); a fatal error in it crashes the
worker (non-zero exit) instead of leaving one that looks alive.
"""

from __future__ import annotations

from dataclasses import replace

import faust

from streams.domain.profile.windows import DEFAULT_CONFIG
from streams.runtime.host import install_threaded_stage
from streams.runtime.metrics import Metrics
from streams.runtime.registry import codec_for
from streams.settings import Settings
from streams.stages.borrower.observe import STAGE, install_metrics
from streams.stages.borrower.stage import BorrowerStage


def build_borrower(settings: Settings) -> BorrowerStage:
    """A borrower stage wired from settings."""
    config = replace(DEFAULT_CONFIG, spend_material_ratio=settings.profile_spend_material_ratio)
    return BorrowerStage(settings, codec_for(settings.schema_registry_url), config)


def install_borrower(app: faust.App, stage: BorrowerStage, metrics: Metrics) -> None:
    """Run ``stage`` as part of ``app``'s worker, reporting to ``metrics``."""
    install_metrics(stage, metrics)
    install_threaded_stage(app, STAGE, stage, metrics)

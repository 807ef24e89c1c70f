"""Wire the profile stage from settings and host it in the Faust worker.

Same shape as ``streams.stages.ingress.service``: the confluent-kafka calls block, so the loop
runs in its own thread that starts and stops with the worker
(``streams.runtime.host.install_threaded_stage``); a fatal error in it crashes the worker
(non-zero exit) instead of leaving one that looks alive.
"""

from __future__ import annotations

from dataclasses import replace

import faust

from streams.domain.profile.windows import DEFAULT_CONFIG
from streams.runtime.host import install_threaded_stage
from streams.runtime.metrics import Metrics
from streams.runtime.registry import codec_for
from streams.settings import Settings
from streams.stages.profiles.observe import install_metrics
from streams.stages.profiles.stage import ProfileStage


def build_profiles(settings: Settings) -> ProfileStage:
    """A profile stage wired from settings."""
    config = replace(DEFAULT_CONFIG, spend_material_ratio=settings.profile_spend_material_ratio)
    return ProfileStage(settings, codec_for(settings.schema_registry_url), config)


def install_profiles(app: faust.App, stage: ProfileStage, metrics: Metrics) -> None:
    """Run ``stage`` as part of ``app``'s worker, reporting to ``metrics``."""
    install_metrics(stage, metrics)
    install_threaded_stage(app, "profiles", stage, metrics)

"""Host the ingress loop inside the Faust worker (a mode Service running a thread).

The confluent-kafka calls block, so the loop runs in its own thread; the worker starts
and stops it with everything else. A fatal error in the loop crashes the worker (it
exits non-zero) rather than leaving a worker that looks alive but ingests nothing.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

import faust
from mode import Service

from streams.codec import codec_for
from streams.config import Settings
from streams.ingress.dedup import DedupMemory
from streams.ingress.process import IngressProcessor, RejectGuard
from streams.ingress.stage import IngressStage
from streams.privacy import pseudonymizer_from_settings
from streams.validation import ValidationLimits

log = logging.getLogger(__name__)
DAY_MS = 86_400_000


def build_stage(settings: Settings) -> IngressStage:
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
        DedupMemory(settings.dedup_window_days * DAY_MS),
    )
    guard = RejectGuard(settings.reject_guard_ratio, settings.reject_guard_window)
    return IngressStage(settings, processor, guard)


def install_ingress(app: faust.App, stage: IngressStage) -> None:
    """Run ``stage`` as part of ``app``'s worker."""

    class IngressService(Service):
        """The ingress thread's lifecycle, tied to the worker's."""

        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self._thread: threading.Thread | None = None

        async def on_start(self) -> None:
            loop = asyncio.get_running_loop()

            def run() -> None:
                try:
                    stage.run()
                except BaseException as exc:
                    log.exception("ingress stopped on a fatal error")
                    asyncio.run_coroutine_threadsafe(app.crash(exc), loop)

            self._thread = threading.Thread(target=run, name="ingress", daemon=True)
            self._thread.start()

        async def on_stop(self) -> None:
            stage.stop()
            if self._thread is not None:
                await asyncio.get_running_loop().run_in_executor(None, self._thread.join, 30)

    app.service(IngressService)

"""Host a blocking stage loop in the Faust worker, and restart it in place when it fails.

A stage (ingress, consents, borrower) is a confluent-kafka loop whose
``run()`` blocks until ``stop()`` and raises when it cannot go on: the broker went
away, its transaction was fenced (it was a zombie), a commit timed out. Every such
failure is handled the same way, the way a crash is: the stage's ``run()`` has
already aborted its open transaction; the host waits a little and calls ``run()``
again, which builds new clients with the same identity (``StageIdentity``: the new
producer fences the old one), rejoins the group and restores the state of whatever
partitions it gets from the changelogs. No error classification, so no error class
can be misjudged: the restart path is the crash-recovery path the tests kill workers
to prove. The worker exits (non-zero, for its supervisor to see) after ``limit``
consecutive failures, each run shorter than ``healthy_s``, and at once on a
``StageHaltError`` (a deliberate stop, e.g. the reject-ratio guard) or a
``ConfigError`` (restarting cannot fix either).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import faust
from mode import Service

from streams.errors import ConfigError, StageHaltError
from streams.runtime.metrics import Metrics
from streams.settings import Settings

log = logging.getLogger(__name__)


class ThreadedStage(Protocol):
    """A blocking stage loop: ``run()`` until ``stop()``; raises when it cannot go on.
    ``run()`` may be called again after it raised: each call starts from Kafka alone."""

    ready: threading.Event
    settings: Settings
    #: Called with the seconds each committed transaction's commit took.
    on_commit: Callable[[float], None] | None

    def run(self) -> None: ...

    def stop(self) -> None: ...


@dataclass(frozen=True)
class RestartPolicy:
    """When to run a failed stage again, and when to give up (pure)."""

    limit: int = 10  # consecutive short-lived failures before the worker exits
    first_delay_s: float = 0.5
    max_delay_s: float = 10.0
    healthy_s: float = 60.0  # a run that lasted this long resets the count

    def failures_after(self, failures: int, ran_s: float) -> int:
        """The consecutive-failure count after a run of ``ran_s`` seconds failed."""
        return 1 if ran_s >= self.healthy_s else failures + 1

    def gives_up(self, failures: int) -> bool:
        return failures > self.limit

    def delay(self, failures: int) -> float:
        """Exponential backoff: first_delay, x2 per consecutive failure, capped."""
        grown: float = self.first_delay_s * (1 << min(30, max(0, failures - 1)))
        return min(self.max_delay_s, grown)


def supervise(
    stage: ThreadedStage,
    name: str,
    policy: RestartPolicy,
    halt: threading.Event,
    on_restart: Callable[[], None] | None,
    crash: Callable[[BaseException], None],
) -> None:
    """Run ``stage`` until it returns or ``halt`` is set; after a failure run it again
    per ``policy``, or call ``crash`` once the policy gives up (blocking; a thread)."""
    failures = 0
    while not halt.is_set():
        began = time.monotonic()
        try:
            stage.run()
            return  # stopped on request
        except BaseException as exc:
            stage.ready.clear()
            if halt.is_set():
                return
            failures = policy.failures_after(failures, time.monotonic() - began)
            if isinstance(exc, StageHaltError | ConfigError):
                log.error("%s stopped: %s", name, exc)
                crash(exc)
                return
            if policy.gives_up(failures):
                log.exception("%s failed %d times in a row: worker exits", name, failures)
                crash(exc)
                return
            delay = policy.delay(failures)
            log.warning(
                "%s failed (%s: %s); restarting it in %.1fs (failure %d of %d)",
                name,
                type(exc).__name__,
                exc,
                delay,
                failures,
                policy.limit,
            )
            if on_restart is not None:
                on_restart()
            if halt.wait(delay):
                return


class StageService(Service):
    """Runs ``self.stage`` in a thread tied to the worker's lifecycle (see module doc)."""

    stage: ThreadedStage
    stage_name: str
    policy: RestartPolicy
    restart_hook: Callable[[], None] | None
    app: faust.App

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._thread: threading.Thread | None = None
        self._halt = threading.Event()

    async def on_start(self) -> None:
        loop = asyncio.get_running_loop()

        def crash(exc: BaseException) -> None:
            asyncio.run_coroutine_threadsafe(self.app.crash(exc), loop)

        args = (self.stage, self.stage_name, self.policy, self._halt, self.restart_hook, crash)
        self._thread = threading.Thread(
            target=supervise, args=args, name=self.stage_name, daemon=True
        )
        self._thread.start()

    async def on_stop(self) -> None:
        self._halt.set()
        self.stage.stop()
        if self._thread is not None:
            await asyncio.get_running_loop().run_in_executor(None, self._thread.join, 30)


def install_threaded_stage(
    app: faust.App, name: str, stage: ThreadedStage, metrics: Metrics
) -> None:
    """Run ``stage`` in a thread started and stopped with ``app``'s worker, restarting
    it in place after a failure (see the module doc; each restart is counted in
    ``metrics``). Faust instantiates service classes itself, so each stage gets a
    named subclass carrying it."""
    metrics.stage_restarts.labels(name)  # exported at 0 from the start: increase() works
    stage.on_commit = metrics.stage_commit.labels(name).observe
    attrs = {
        "stage": stage,
        "stage_name": name,
        "policy": RestartPolicy(limit=stage.settings.stage_restart_limit),
        "restart_hook": staticmethod(lambda: metrics.stage_restarted(name)),
        "app": app,
        "__module__": __name__,
    }
    app.service(type(f"{name.title()}Service", (StageService,), attrs))

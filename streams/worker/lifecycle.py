"""Run one exchange worker process: the Faust worker hosting every stage.

Scale out by starting more ``creditstream worker`` processes with the same app id:
they share the consumer groups, and partitions bound the parallelism.
"""

from __future__ import annotations

import logging
import os
import sys
import time

import faust
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from streams.errors import BrokerError
from streams.settings import Settings
from streams.worker.app import create_app

log = logging.getLogger(__name__)
#: Starts of one worker process when Kafka fails it during startup (see run_worker).
START_ATTEMPTS = 5
ATTEMPT_VAR = "CREDITSTREAM_WORKER_START_ATTEMPT"


def wait_for_kafka(settings: Settings, timeout_s: float) -> None:
    """Return once the brokers answer a metadata request; ``BrokerError`` after
    ``timeout_s``. A worker started while Kafka restarts (a deploy, a crash) waits for
    it instead of exiting: Faust's client gives up at once if it cannot bootstrap."""
    admin = AdminClient(settings.kafka_client_config() | {"log_level": 0})
    deadline, warned = time.monotonic() + timeout_s, False
    while True:
        try:
            admin.list_topics(timeout=min(5.0, max(0.5, deadline - time.monotonic())))
            return
        except KafkaException as exc:
            if time.monotonic() >= deadline:
                raise BrokerError(
                    f"Kafka at {settings.bootstrap} did not answer within {timeout_s:.0f}s"
                ) from exc
            if not warned:
                log.warning("waiting for Kafka at %s ...", settings.bootstrap)
                warned = True
            time.sleep(0.5)


class _Worker(faust.Worker):
    """Remembers whether startup finished (a failure before that may be retried)."""

    started = False

    async def on_startup_finished(self) -> None:
        self.started = True
        await super().on_startup_finished()


def run_worker(settings: Settings, *, loglevel: str = "info") -> int:
    """Block running the worker until it is stopped (SIGINT/SIGTERM); return exit code.

    If Kafka goes away while the worker is still starting (Faust's clients give up at
    once then), the process starts again in place (``exec``, same pid) up to
    ``START_ATTEMPTS`` times, waiting for Kafka each time.
    """
    # Everything the worker writes is its own: state stores hold borrowers' records.
    os.umask(0o077)
    settings.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    settings.state_dir.chmod(0o700)  # an older release made it 0755
    wait_for_kafka(settings, settings.kafka_wait_s)
    app = create_app(settings)
    worker = _Worker(app, loglevel=loglevel, quiet=True)
    try:
        worker.execute_from_commandline()  # exits the process itself when done
    except SystemExit as exc:
        attempt = int(os.environ.get(ATTEMPT_VAR, "1"))
        if exc.code not in (0, None) and not worker.started and attempt < START_ATTEMPTS:
            log.warning("worker failed while starting; starting again (attempt %d)", attempt + 1)
            os.environ[ATTEMPT_VAR] = str(attempt + 1)
            os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])
        raise
    return 0

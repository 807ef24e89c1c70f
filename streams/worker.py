"""Run one exchange worker process: the Faust worker hosting every stage.

Scale out by starting more ``creditstream worker`` processes with the same app id:
they share the consumer groups, and partitions bound the parallelism.
"""

from __future__ import annotations

import faust

from streams.app import create_app
from streams.config import Settings


def run_worker(settings: Settings, *, loglevel: str = "info") -> int:
    """Block running the worker until it is stopped (SIGINT/SIGTERM); return exit code."""
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    app = create_app(settings)
    worker = faust.Worker(app, loglevel=loglevel, quiet=True)
    worker.execute_from_commandline()  # exits the process itself when done
    return 0

"""The Faust application factory: one place that wires settings into a worker.

``create_app`` builds a fresh ``faust.App`` per call (tests build their own); the
stages register themselves through ``install_stages``. Faust runs the worker's lifecycle
(signals, services, shutdown) and its web server (``/metrics``, ``/ready``, the status
page ``/status``: ``streams.worker.status``); it has no
agents or tables here, so it runs no Kafka client of its own (``_Boot``).
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable

import faust
from faust.app.base import BootStrategy
from prometheus_client import CollectorRegistry

from streams import __version__, native
from streams.runtime.metrics import Metrics
from streams.settings import Settings
from streams.worker.status import install_status
from streams.worker.web import install_web

log = logging.getLogger(__name__)

#: Stage name -> "is it serving?" (the /ready endpoint and the readiness gauge).
Readiness = dict[str, Callable[[], bool]]


class _Boot(BootStrategy):
    """Faust starts its web server, sensors and services, and no Kafka client of its own:
    the stages bring theirs (``streams.runtime.clients``). Without this, Faust joins a
    consumer group named after the app id and declares ``<app_id>-__assignor-__leader``
    for agents and tables this worker does not have."""

    enable_kafka = False


class _App(faust.App):
    BootStrategy = _Boot


def create_app(settings: Settings, registry: CollectorRegistry | None = None) -> faust.App:
    """A Faust app for this exchange, configured from ``settings``.

    Metrics go to ``registry`` (a fresh one by default); the worker serves them on
    ``/metrics``, stage readiness on ``/ready`` and both as a page on ``/status``.
    """
    app = _App(
        settings.app_id,
        # Faust's own Kafka clients are off (``_Boot``); it still wants a broker URL.
        broker=[f"kafka://{host}" for host in settings.bootstrap.split(",")],
        datadir=str(settings.state_dir),
        web_port=settings.web_port,
        web_host=settings.web_host,
        web_bind=settings.web_host,
        autodiscover=False,
    )
    metrics = Metrics(registry or CollectorRegistry())
    metrics.set_worker_info(
        version=__version__,
        app_id=settings.app_id,
        worker_id=f"{socket.gethostname()}-{os.getpid()}",
    )
    readiness: Readiness = {}
    install_stages(app, settings, metrics, readiness)

    def ready() -> dict[str, bool]:
        return {name: check() for name, check in readiness.items()}

    install_web(app, metrics, ready)
    install_status(app, metrics, ready, settings)
    return app


def install_stages(
    app: faust.App, settings: Settings, metrics: Metrics, readiness: Readiness
) -> None:
    """Register the stages ``settings.stages`` names on ``app``, each with its readiness
    check (``/ready`` answers for these only)."""
    from streams.stages.borrower.service import build_borrower, install_borrower
    from streams.stages.consents.service import build_consents, install_consents
    from streams.stages.ingress.service import build_ingress, install_ingress

    chosen = settings.stage_names
    status = native.STATUS
    (log.info if status.compiled or not status.built else log.warning)(status.describe())
    # The compiled modules are ingress's and the borrower stage's hot path.
    for name in {"ingress", "borrower"} & set(chosen):
        metrics.fast_path.labels(name, "compiled").set(status.compiled)
    if "ingress" in chosen:
        ingress = build_ingress(settings)
        install_ingress(app, ingress, metrics)
        readiness["ingress"] = ingress.ready.is_set
    if "consents" in chosen:
        consents = build_consents(settings)
        install_consents(app, consents, metrics)
        readiness["consents"] = consents.ready.is_set
    if "borrower" in chosen:
        borrower = build_borrower(settings)
        install_borrower(app, borrower, metrics)
        readiness["borrower"] = borrower.ready.is_set

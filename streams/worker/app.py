"""The Faust application factory: one place that wires settings into a worker.

``create_app`` builds a fresh ``faust.App`` per call (tests build their own); the
stages register themselves through ``install_stages``. Agents stay thin: decode, call
pure logic, send.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable

import faust
from faust.auth import SASLCredentials
from prometheus_client import CollectorRegistry

from streams import __version__
from streams.runtime.instance import instance_id
from streams.runtime.metrics import Metrics
from streams.settings import Settings
from streams.worker.web import install_web

#: Stage name -> "is it serving?" (the /ready endpoint and the readiness gauge).
Readiness = dict[str, Callable[[], bool]]


def _credentials(settings: Settings) -> SASLCredentials | None:
    if settings.security_protocol != "SASL_PLAINTEXT":
        return None
    password = settings.sasl_password.get_secret_value() if settings.sasl_password else ""
    return SASLCredentials(
        username=settings.sasl_username,
        password=password,
        mechanism=settings.sasl_mechanism,
    )


def create_app(settings: Settings, registry: CollectorRegistry | None = None) -> faust.App:
    """A Faust app for this exchange, configured from ``settings``.

    Metrics go to ``registry`` (a fresh one by default); the worker serves them on
    ``/metrics`` and stage readiness on ``/ready``.
    """
    app = faust.App(
        settings.app_id,
        broker=[f"kafka://{host}" for host in settings.bootstrap.split(",")],
        broker_credentials=_credentials(settings),
        store="rocksdb://",
        datadir=str(settings.state_dir),
        topic_partitions=settings.partitions,
        topic_replication_factor=1,
        web_port=settings.web_port,
        web_host=settings.web_host,
        web_bind=settings.web_host,
        producer_acks=-1,
        # Internal topics are created by the exchange; never auto-create on a typo.
        topic_allow_declare=True,
        autodiscover=False,
        # Faust's own consumer group (it has no agents here, but joins one) must not
        # hold a restarting worker up for a minute: static membership with this
        # worker's identity rejoins at once, and a dead member is noticed as fast as
        # the stages notice it.
        consumer_group_instance_id=f"{settings.app_id}-faust-{instance_id(settings)}",
        broker_session_timeout=settings.session_timeout_ms / 1000,
        broker_heartbeat_interval=min(3.0, settings.session_timeout_ms / 3000),
    )
    metrics = Metrics(registry or CollectorRegistry())
    metrics.set_worker_info(
        version=__version__,
        app_id=settings.app_id,
        worker_id=f"{socket.gethostname()}-{os.getpid()}",
    )
    readiness: Readiness = {}
    install_stages(app, settings, metrics, readiness)
    install_web(app, metrics, lambda: {name: check() for name, check in readiness.items()})
    return app


def install_stages(
    app: faust.App, settings: Settings, metrics: Metrics, readiness: Readiness
) -> None:
    """Register the exchange's stages on ``app``, each with its readiness check."""
    from streams.stages.consents.service import build_consents, install_consents
    from streams.stages.fanout.service import build_fanout, install_fanout
    from streams.stages.ingress.service import build_ingress, install_ingress
    from streams.stages.profiles.service import build_profiles, install_profiles

    ingress = build_ingress(settings)
    install_ingress(app, ingress, metrics)
    readiness["ingress"] = ingress.ready.is_set
    profiles = build_profiles(settings)
    install_profiles(app, profiles, metrics)
    readiness["profiles"] = profiles.ready.is_set
    consents = build_consents(settings)
    install_consents(app, consents, metrics)
    readiness["consents"] = consents.ready.is_set
    fanout = build_fanout(settings)
    install_fanout(app, fanout, metrics)
    readiness["fanout"] = fanout.ready.is_set

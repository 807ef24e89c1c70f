"""The Faust application factory: one place that wires settings into a worker.

``create_app`` builds a fresh ``faust.App`` per call (tests build their own); the
stages register themselves through ``install_stages``. Agents stay thin: decode, call
pure logic, send.
"""

from __future__ import annotations

import faust
from faust.auth import SASLCredentials

from streams.config import Settings


def _credentials(settings: Settings) -> SASLCredentials | None:
    if settings.security_protocol != "SASL_PLAINTEXT":
        return None
    password = settings.sasl_password.get_secret_value() if settings.sasl_password else ""
    return SASLCredentials(
        username=settings.sasl_username,
        password=password,
        mechanism=settings.sasl_mechanism,
    )


def create_app(settings: Settings) -> faust.App:
    """A Faust app for this exchange, configured from ``settings``."""
    app = faust.App(
        settings.app_id,
        broker=[f"kafka://{host}" for host in settings.bootstrap.split(",")],
        broker_credentials=_credentials(settings),
        store="rocksdb://",
        datadir=str(settings.state_dir),
        topic_partitions=settings.partitions,
        topic_replication_factor=1,
        web_port=settings.web_port,
        web_host="127.0.0.1",
        producer_acks=-1,
        # Internal topics are created by the exchange; never auto-create on a typo.
        topic_allow_declare=True,
        autodiscover=False,
    )
    install_stages(app, settings)
    return app


def install_stages(app: faust.App, settings: Settings) -> None:
    """Register the exchange's stages on ``app``."""
    from streams.ingress.service import build_stage, install_ingress

    install_ingress(app, build_stage(settings))

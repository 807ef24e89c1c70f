"""A worker's HTTP endpoints: Prometheus ``/metrics`` and a ``/ready`` probe.

``install_web`` adds two views to a Faust app's web server (aiohttp, on
``Settings.web_port``). Faust starts that server before table recovery, so ``/ready``
answers 503 while a stage is still recovering and the probes see it:

- ``GET /metrics``: the registry in the Prometheus text format (OpenMetrics when the
  scraper asks for it). Before rendering, the
  ``creditstream_ready{stage}`` gauges are refreshed from ``readiness()`` so the
  scraped readiness always agrees with ``/ready``.
- ``GET /ready``: 200 and ``{"ready": true, "stages": {...}}`` when at least one stage
  is registered and every stage is ready; 503 with the same shape otherwise, also when
  ``readiness()`` itself raises (the error's type is reported, nothing else).

Processes without Faust (the simulator, a bench) call ``serve_metrics`` instead.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any
from wsgiref.simple_server import WSGIServer

import faust
from faust import web
from prometheus_client import CollectorRegistry
from prometheus_client import start_http_server as _start_http_server
from prometheus_client.exposition import choose_encoder

from streams.runtime.metrics import Metrics

log = logging.getLogger(__name__)

Readiness = Callable[[], dict[str, bool]]

METRICS_PATH = "/metrics"
READY_PATH = "/ready"


def readiness_report(readiness: Readiness) -> tuple[bool, dict[str, Any]]:
    """``(ready, body)`` for ``/ready``: ready needs >= 1 stage and all of them ready."""
    try:
        stages = {str(k): bool(v) for k, v in readiness().items()}
    except Exception as exc:  # a broken probe means "not ready", never a 500
        log.exception("readiness check failed")
        return False, {"ready": False, "stages": {}, "error": type(exc).__name__}
    ready = bool(stages) and all(stages.values())
    return ready, {"ready": ready, "stages": stages}


def render_metrics(metrics: Metrics, readiness: Readiness, accept: str = "") -> tuple[bytes, str]:
    """``(body, content type)`` of ``metrics.registry``, readiness gauges refreshed first.

    The format follows the scraper's ``Accept`` header (OpenMetrics for Prometheus,
    the classic text format otherwise), as prometheus_client's own server does.
    """
    _, body = readiness_report(readiness)
    for stage, ok in body["stages"].items():
        metrics.set_ready(stage, ok)
    encoder, content_type = choose_encoder(accept)
    return encoder(metrics.registry), content_type


def install_web(app: faust.App, metrics: Metrics, readiness: Readiness) -> None:
    """Register ``/metrics`` and ``/ready`` on ``app``'s web server (call before start)."""

    @app.page(METRICS_PATH)
    async def metrics_view(self: web.View, request: web.Request) -> web.Response:
        body, content_type = render_metrics(metrics, readiness, request.headers.get("Accept", ""))
        return self.bytes(body, headers={"Content-Type": content_type})

    @app.page(READY_PATH)
    async def ready_view(self: web.View, request: web.Request) -> web.Response:
        ready, body = readiness_report(readiness)
        return self.json(body, status=200 if ready else 503)


def serve_metrics(
    registry: CollectorRegistry, port: int, addr: str = "127.0.0.1"
) -> tuple[WSGIServer, threading.Thread]:
    """Serve ``registry`` on ``http://addr:port/metrics`` from a daemon thread.

    ``port=0`` picks a free port (read it from ``server.server_port``). Stop with
    ``server.shutdown(); server.server_close()``.
    """
    server, thread = _start_http_server(port, addr=addr, registry=registry)
    return server, thread

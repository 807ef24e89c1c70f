"""streams.worker.web: /metrics and /ready on a Faust app's aiohttp server, and serve_metrics."""

from __future__ import annotations

import asyncio
import urllib.request
from typing import Any

import faust
import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from streams.runtime.metrics import Metrics
from streams.worker.web import install_web, readiness_report, serve_metrics


def _request(app: faust.App, path: str, accept: str = "") -> tuple[int, str, str]:
    """GET ``path`` from ``app``'s web server, in process: (status, content type, body)."""

    async def go() -> tuple[int, str, str]:
        app.web.init_server()
        aiohttp_app = app.web.web_app  # type: ignore[attr-defined]
        async with TestClient(TestServer(aiohttp_app)) as client:
            resp = await client.get(path, headers={"Accept": accept} if accept else None)
            return resp.status, resp.headers["Content-Type"], await resp.text()

    return asyncio.run(go())


def _app(stages: dict[str, bool] | Exception) -> tuple[faust.App, Metrics]:
    metrics = Metrics(CollectorRegistry())

    def readiness() -> dict[str, bool]:
        if isinstance(stages, Exception):
            raise stages
        return dict(stages)

    app = faust.App("web-test", broker="kafka://127.0.0.1:1", autodiscover=False)
    install_web(app, metrics, readiness)
    return app, metrics


def test_metrics_endpoint_serves_the_registry_with_fresh_readiness() -> None:
    app, metrics = _app({"ingress": True, "profiles": False})
    metrics.rejects_for("acme", "not_avro").inc(3)
    status, ctype, body = _request(app, "/metrics")
    assert status == 200
    assert ctype.startswith("text/plain")
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for fam in text_string_to_metric_families(body):
        for s in fam.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    key = ("creditstream_rejects_total", (("platform", "acme"), ("reason", "not_avro")))
    assert samples[key] == 3
    assert samples[("creditstream_ready", (("stage", "ingress"),))] == 1
    assert samples[("creditstream_ready", (("stage", "profiles"),))] == 0


def test_metrics_endpoint_speaks_openmetrics_when_asked() -> None:
    app, metrics = _app({"ingress": True})
    metrics.events_forwarded.inc()
    status, ctype, body = _request(app, "/metrics", accept="application/openmetrics-text")
    assert status == 200
    assert ctype.startswith("application/openmetrics-text")
    assert body.rstrip().endswith("# EOF")
    assert "creditstream_events_forwarded_total 1.0" in body


@pytest.mark.parametrize(
    ("stages", "status", "ready"),
    [
        ({"ingress": True, "profiles": True}, 200, True),
        ({"ingress": True, "profiles": False}, 503, False),
        ({}, 503, False),
    ],
)
def test_ready_endpoint(stages: dict[str, bool], status: int, ready: bool) -> None:
    import json

    app, _ = _app(stages)
    got, ctype, body = _request(app, "/ready")
    assert got == status
    assert ctype.startswith("application/json")
    assert json.loads(body) == {"ready": ready, "stages": stages}


def test_a_failing_probe_is_not_ready_and_not_a_500() -> None:
    app, _ = _app(RuntimeError("boom"))
    status, _, body = _request(app, "/ready")
    assert status == 503
    assert '"RuntimeError"' in body and "boom" not in body


def test_readiness_report_normalises_values() -> None:
    ok, body = readiness_report(lambda: {"a": 1, "b": True})  # type: ignore[dict-item]
    assert ok and body == {"ready": True, "stages": {"a": True, "b": True}}


def test_serve_metrics_on_a_free_port() -> None:
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    metrics.events_forwarded.inc(9)
    server, thread = serve_metrics(registry, 0)
    try:
        url = f"http://127.0.0.1:{server.server_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as resp:
            body: Any = resp.read().decode()
        assert "creditstream_events_forwarded_total 9.0" in body
    finally:
        server.shutdown()
        server.server_close()
    thread.join(timeout=5)
    assert not thread.is_alive()

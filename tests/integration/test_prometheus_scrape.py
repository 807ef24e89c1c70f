"""A real Prometheus server scrapes a process serving streams.runtime.metrics and stores
every family.

The binary is Debian's ``prometheus`` (deploy/local/install-prometheus.sh). Without it
the test FAILS when ``CI=true`` and skips, saying why, elsewhere. Bounded: < 60 s.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from streams.runtime.metrics import FAMILIES, Metrics
from streams.worker.web import serve_metrics
from tests.integration.kafka_helpers import free_port
from tests.tools import installed_tool
from tests.waiting import NotYet, eventually

pytestmark = pytest.mark.slow
DEADLINE_S = 45.0


def prometheus_binary() -> str:
    return installed_tool("prometheus")


def touch_every_family(m: Metrics) -> None:
    """Move every metric family once, as a running worker would."""
    m.events_in_for("acme", "repayment").inc(5)
    m.rejects_for("acme", "not_avro").inc(3)
    m.duplicates_for("acme").inc()
    m.events_forwarded.inc(5)
    m.observe_event_to_feed("bank-a", ingest_ts=time.time() - 0.02)
    m.ingress_batch_duration.observe(0.01)
    m.stage_commit.labels("ingress").observe(0.004)
    m.profile_updates.inc(5)
    m.alerts_for("new_loan").inc()
    m.deliveries_for("bank-a", "credit_decision").inc(2)
    m.audit_records.inc(2)
    m.set_lag("ingest.acme.loans", 0, 7)
    m.set_table_entries("profiles", 42)
    m.set_recovery("profiles", 1.0)
    m.state_bytes.labels("borrower").set(4096)
    m.recovery_restored.labels("profiles").inc(42)
    m.set_ready("profiles", True)
    m.platform_seen("acme")
    m.stage_restarted("fanout")
    m.set_tenant_waiting("ingress", "acme", 2)
    m.dead_letters.labels("fanout", "MALFORMED").inc()
    m.fast_path.labels("profiles", "decode").set(1)
    m.consent_requests.labels("bank-a", "accepted").inc()
    m.disputes.labels("acme", "opened").inc()
    m.set_worker_info(version="test", app_id="creditstream", worker_id="scrape-test")


def expected_series_names(registry: CollectorRegistry) -> set[str]:
    histograms = {f.name for f in registry.collect() if f.type == "histogram"}
    names = set(FAMILIES) - histograms
    for h in histograms:
        names |= {f"{h}_bucket", f"{h}_sum", f"{h}_count"}
    return names


def api(base: str, path: str, **params: str) -> Any:
    url = f"{base}{path}?{urllib.parse.urlencode(params)}"
    with urllib.request.urlopen(url, timeout=5) as resp:
        body = json.load(resp)
    assert body["status"] == "success", body
    return body["data"]


@pytest.fixture
def target() -> Iterator[tuple[str, Metrics]]:
    """``host:port`` of a metrics server whose registry has every family moved."""
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    touch_every_family(metrics)
    server, thread = serve_metrics(registry, 0)
    try:
        yield f"127.0.0.1:{server.server_port}", metrics
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@contextmanager
def running_prometheus(
    target: str, tmp_path: Path, metrics_path: str = "/metrics"
) -> Iterator[str]:
    """Base URL of a real Prometheus server scraping ``target`` every second."""
    binary = prometheus_binary()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
        "scrape_configs:\n  - job_name: creditstream\n"
        f"    metrics_path: {metrics_path}\n"
        f"    static_configs:\n      - targets: ['{target}']\n"
    )
    port = free_port()
    log = (tmp_path / "prometheus.log").open("wb")
    proc = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"

    def ready() -> bool | NotYet:
        assert proc.poll() is None, (tmp_path / "prometheus.log").read_text()[-3000:]
        try:
            with urllib.request.urlopen(f"{base}/-/ready", timeout=2) as resp:
                return resp.status == 200 or NotYet(f"/-/ready answered {resp.status}")
        except (urllib.error.URLError, ConnectionError) as exc:
            return NotYet(str(exc))

    try:
        eventually(ready, what="Prometheus is ready", timeout=20)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        log.close()


@pytest.fixture
def prometheus(target: tuple[str, Metrics], tmp_path: Path) -> Iterator[str]:
    """Base URL of a Prometheus server scraping ``target`` every second."""
    with running_prometheus(target[0], tmp_path) as base:
        yield base


def wait_for_series(prometheus: str, want: set[str], timeout: float = DEADLINE_S) -> None:
    """Wait until Prometheus holds a series of every name in ``want``."""

    def stored() -> bool | NotYet:
        series = api(prometheus, "/api/v1/series", **{"match[]": '{__name__=~"creditstream_.+"}'})
        missing = want - {s["__name__"] for s in series}
        return not missing or NotYet(f"missing: {sorted(missing)}")

    eventually(
        stored, what="Prometheus stores every declared family", timeout=timeout, interval=0.5
    )


def test_prometheus_stores_every_declared_family(
    prometheus: str, target: tuple[str, Metrics]
) -> None:
    want = expected_series_names(target[1].registry)
    wait_for_series(prometheus, want)

    (health,) = api(prometheus, "/api/v1/targets")["activeTargets"]
    assert health["health"] == "up" and health["labels"]["job"] == "creditstream"
    query = 'creditstream_rejects_total{platform="acme", reason="not_avro"}'
    (sample,) = api(prometheus, "/api/v1/query", query=query)["result"]
    assert float(sample["value"][1]) == 3
    (info,) = api(prometheus, "/api/v1/query", query="creditstream_worker_info")["result"]
    assert info["metric"]["worker_id"] == "scrape-test"

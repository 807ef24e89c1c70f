"""deploy/prometheus and deploy/grafana: promtool passes, every query names a real metric.

promtool comes from Debian's ``prometheus`` package (deploy/local/install-prometheus.sh).
Without it these tests FAIL when ``CI=true`` and skip, saying why, elsewhere.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry

from streams.runtime.metrics import FAMILIES, Metrics
from tests.tools import installed_tool

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
PROM = DEPLOY / "prometheus"
GRAFANA = DEPLOY / "grafana"
INSTALL = DEPLOY / "local" / "install-prometheus.sh"
#: Series Prometheus itself produces.
BUILTIN_SERIES = {"up", "ALERTS", "ALERTS_FOR_STATE"}
PROMQL_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or"}
PROMQL_KEYWORDS |= {"unless", "bool", "offset", "inf", "nan", "atan2"}


def promtool() -> str:
    return installed_tool("promtool")


def run_promtool(*args: str) -> str:
    done = subprocess.run(
        [promtool(), *args], cwd=PROM, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, f"promtool {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def metric_names(expr: str) -> set[str]:
    """Series names a PromQL expression selects (functions, keywords, labels removed)."""
    s = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'', '""', expr)
    s = re.sub(r"\{[^}]*\}", " ", s)  # label matchers
    s = re.sub(r"\[[^\]]*\]", " ", s)  # ranges, subqueries, $__rate_interval
    s = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", s)
    names = set()
    for m in re.finditer(r"(?<![\w.$])[A-Za-z_:][A-Za-z0-9_:]*", s):
        rest = s[m.end() :].lstrip()
        if rest.startswith("(") or m.group().lower() in PROMQL_KEYWORDS:
            continue
        names.add(m.group())
    return names


def histogram_families() -> set[str]:
    reg = CollectorRegistry()
    Metrics(reg)
    return {f.name for f in reg.collect() if f.type == "histogram"}


def rules() -> list[dict[str, Any]]:
    doc = yaml.safe_load((PROM / "alerts.yml").read_text())
    return [r for g in doc["groups"] for r in g["rules"]]


def known_series() -> set[str]:
    known = set(FAMILIES) | BUILTIN_SERIES
    for h in histogram_families():
        known |= {f"{h}_bucket", f"{h}_sum", f"{h}_count"}
    known |= {r["record"] for r in rules() if "record" in r}
    return known


def panels(items: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for p in items:
        yield p
        yield from panels(p.get("panels", []))


def dashboard() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((GRAFANA / "creditstream.json").read_text())
    return doc


# -- the extractor itself -----------------------------------------------------------------
def test_metric_names_extractor() -> None:
    expr = (
        "histogram_quantile(0.99, sum by (le, bank) "
        '(rate(a_bucket{bank=~"$bank"}[$__rate_interval])))'
        " / on (bank) group_left () b:rec:rate5m offset 5m > 1e3 and up{job='x'} unless c"
    )
    assert metric_names(expr) == {"a_bucket", "b:rec:rate5m", "up", "c"}
    assert metric_names("label_replace(vector(300), 'platform', 'acme', '', '')") == set()


# -- promtool -------------------------------------------------------------------------------
def test_promtool_check_rules() -> None:
    assert "SUCCESS" in run_promtool("check", "rules", "alerts.yml")


@pytest.mark.parametrize("config", ["prometheus.yml", "prometheus-compose.yml"])
def test_promtool_check_config(config: str) -> None:
    assert "SUCCESS" in run_promtool("check", "config", config)


def test_promtool_rule_unit_tests() -> None:
    assert "SUCCESS" in run_promtool("test", "rules", "tests.yml")


def test_every_alert_is_tested_firing_and_quiet() -> None:
    alerts = {r["alert"] for r in rules() if "alert" in r}
    tests = yaml.safe_load((PROM / "tests.yml").read_text())["tests"]
    fired: set[str] = set()
    quiet: set[str] = set()
    for case in tests:
        for check in case.get("alert_rule_test", []):
            (fired if check.get("exp_alerts") else quiet).add(check["alertname"])
    assert alerts - fired == set(), "alerts never shown firing"
    assert alerts - quiet == set(), "alerts never shown quiet"


def test_alerts_have_annotations_and_severity() -> None:
    for rule in rules():
        if "alert" in rule:
            assert rule["labels"]["severity"] in {"page", "warning"}, rule["alert"]
            assert {"summary", "description", "runbook"} <= set(rule["annotations"]), rule["alert"]


def test_rule_expressions_name_declared_metrics() -> None:
    known = known_series()
    for rule in rules():
        names = metric_names(rule["expr"])
        assert names <= known, f"{rule.get('alert') or rule['record']}: {names - known}"
        if "alert" in rule:
            assert names, f"{rule['alert']} selects no series"


def test_scrape_job_matches_alerts() -> None:
    for config in ("prometheus.yml", "prometheus-compose.yml"):
        doc = yaml.safe_load((PROM / config).read_text())
        jobs = [j["job_name"] for j in doc["scrape_configs"]]
        assert "creditstream" in jobs, config
        assert doc["rule_files"] == ["alerts.yml"]
    assert any('up{job="creditstream"}' in r["expr"] for r in rules() if "alert" in r)


def test_install_script_does_nothing_when_installed(tmp_path: Path) -> None:
    """With both binaries present the script exits 0 without touching apt at all
    (that is what makes a warm ``./run test`` cheap)."""
    assert os.access(INSTALL, os.X_OK)
    subprocess.run(["bash", "-n", str(INSTALL)], check=True)
    promtool()  # fails in CI, skips (saying why) elsewhere, when it is missing
    if shutil.which("prometheus") is None:
        pytest.fail("promtool without prometheus: run deploy/local/install-prometheus.sh")
    marker = tmp_path / "apt-was-called"
    for tool in ("apt-get", "sudo"):
        stub = tmp_path / tool
        stub.write_text(f"#!/bin/sh\ntouch {marker}\nexit 1\n")
        stub.chmod(0o755)
    env = dict(os.environ) | {"PATH": f"{tmp_path}:{os.environ['PATH']}"}
    subprocess.run([str(INSTALL)], check=True, timeout=60, env=env)
    assert not marker.exists()


# -- Grafana --------------------------------------------------------------------------------
def test_every_panel_query_names_a_declared_metric() -> None:
    known = known_series()
    queries = 0
    for panel in panels(dashboard()["panels"]):
        for target in panel.get("targets", []):
            names = metric_names(target["expr"])
            assert names, f"panel {panel['title']!r}: query names no metric: {target['expr']}"
            assert names <= known, f"panel {panel['title']!r}: unknown {names - known}"
            queries += 1
    assert queries >= 20


def test_template_variables_name_declared_metrics() -> None:
    for var in dashboard()["templating"]["list"]:
        if var["type"] == "query":
            m = re.fullmatch(r"label_values\((\w+),\s*(\w+)\)", var["definition"])
            assert m, var["definition"]
            assert m.group(1) in FAMILIES


def test_dashboard_shows_every_metric_family() -> None:
    used: set[str] = set()
    for panel in panels(dashboard()["panels"]):
        for target in panel.get("targets", []):
            used |= metric_names(target["expr"])
    base = {re.sub(r"_(bucket|sum|count)$", "", n) for n in used}
    assert set(FAMILIES) - used - base == set()


def test_dashboard_structure() -> None:
    dash = dashboard()
    ids = [p["id"] for p in panels(dash["panels"])]
    assert len(ids) == len(set(ids))
    titles = {p["title"] for p in panels(dash["panels"])}
    for needed in ("Events in by platform", "Rejects by reason", "Consumer lag by topic"):
        assert needed in titles
    for panel in panels(dash["panels"]):
        assert {"h", "w", "x", "y"} <= set(panel["gridPos"])
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == "${datasource}", panel["title"]


def test_grafana_provisioning() -> None:
    prov = GRAFANA / "provisioning"
    ds = yaml.safe_load((prov / "datasources" / "prometheus.yml").read_text())["datasources"]
    assert [d["type"] for d in ds] == ["prometheus"]
    providers = yaml.safe_load((prov / "dashboards" / "creditstream.yml").read_text())["providers"]
    path = providers[0]["options"]["path"]
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    mounts = compose["services"]["grafana"]["volumes"]
    assert f"./grafana/creditstream.json:{path}/creditstream.json:ro" in mounts
    assert "./grafana/provisioning:/etc/grafana/provisioning:ro" in mounts

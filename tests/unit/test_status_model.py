"""The status page without Kafka: its pure model and history, the regulator's credential
and form, and its routes served in process (everything but a lookup that reads Kafka,
which tests/integration/test_status_page.py drives in a browser)."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import faust
import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from streams.errors import ConfigError
from streams.runtime.metrics import Metrics
from streams.settings import Settings
from streams.worker.status.access import (
    MAX_FORM_BYTES,
    bearer,
    form_fields,
    load_token,
    verdict,
)
from streams.worker.status.history import History, Snapshot
from streams.worker.status.model import flatten, page_model, quantile, stage_of_topic
from streams.worker.status.views import install_status

TOKEN = "a-regulator-token-0123456789"
FORM = "application/x-www-form-urlencoded"


@pytest.fixture
def metrics() -> Metrics:
    return Metrics(CollectorRegistry())


def model(m: Metrics, **kw: Any) -> dict[str, Any]:
    return page_model(flatten(m.registry.collect()), now=1000.0, **kw)


# -- the model ----------------------------------------------------------------------------


def test_platforms_sum_kinds_and_reasons_and_rate(metrics: Metrics) -> None:
    metrics.events_in_for("acme", "loan").inc(90)
    metrics.events_in_for("acme", "activity").inc(10)
    metrics.rejects_for("acme", "NOT_AVRO").inc(3)
    metrics.rejects_for("acme", "TOO_OLD").inc(2)
    metrics.duplicates_for("acme").inc(4)
    metrics.platform_seen("acme", 990.5)
    metrics.disputes.labels("acme", "opened").inc(2)
    metrics.disputes.labels("acme", "corrected").inc()
    metrics.rejects_for("badco", "MALFORMED").inc()
    (acme, badco) = model(metrics)["platforms"]
    assert acme == {
        "platform": "acme",
        "accepted": 100,
        "rejected": 5,
        "reject_rate": 5 / 105,
        "rejects_by_reason": {"NOT_AVRO": 3, "TOO_OLD": 2},
        "duplicates": 4,
        "last_record_at": 990.5,
        "disputes": {"corrected": 1, "opened": 2},
        "disputes_open": None,  # not read from Kafka yet
        "disputes_overdue": None,
    }
    assert (badco["accepted"], badco["reject_rate"], badco["last_record_at"]) == (0, 1.0, None)


def test_platforms_without_records_have_no_rate_and_objections_come_from_kafka(
    metrics: Metrics,
) -> None:
    metrics.platform_seen("quiet", 5.0)
    rows = model(metrics, disputes={"quiet": (2, 1), "other": (0, 3)})["platforms"]
    assert [(r["platform"], r["disputes_open"], r["disputes_overdue"]) for r in rows] == [
        ("other", 0, 3),
        ("quiet", 2, 1),
    ]
    assert rows[1]["reject_rate"] is None


def test_banks_deliveries_consents_and_latency(metrics: Metrics) -> None:
    metrics.deliveries_for("north", "CREDIT_APPLICATION").inc(3)
    metrics.deliveries_for("north", "MONITORING").inc(1)
    metrics.consent_requests.labels("north", "accepted").inc(4)
    for seconds in (0.015, 0.02, 0.02, 0.04):  # buckets 0.01 < x <= 0.025 (3), 0.025..0.05 (1)
        metrics.observe_event_to_feed("north", 0.0, seconds)
    metrics.consent_requests.labels("south", "UNKNOWN_PURPOSE").inc()
    north, south = model(metrics)["banks"]
    assert north["deliveries"] == 4
    assert north["deliveries_by_purpose"] == {"CREDIT_APPLICATION": 3, "MONITORING": 1}
    assert north["consent_requests"] == {"accepted": 4}
    latency = north["latency"]
    assert latency["count"] == 4
    assert latency["mean_s"] == pytest.approx(0.095 / 4)
    assert latency["p50_s"] == pytest.approx(0.01 + 0.015 * 2 / 3)  # rank 2 of 3 in bucket
    assert latency["p99_s"] == pytest.approx(0.025 + 0.025 * 0.96)
    assert south["deliveries"] == 0
    assert south["latency"] == {"count": 0.0, "mean_s": None, "p50_s": None, "p99_s": None}


@pytest.mark.parametrize(
    ("q", "buckets", "want"),
    [
        (0.5, ((0.1, 0.0), (0.2, 10.0), (math.inf, 10.0)), 0.15),
        (0.5, ((0.1, 10.0), (0.2, 10.0), (math.inf, 10.0)), 0.05),  # from 0 in the first
        (0.99, ((0.1, 1.0), (0.2, 1.0), (math.inf, 100.0)), 0.2),  # +Inf: the last bound
        (0.5, ((0.1, 0.0), (math.inf, 0.0)), None),  # no observations
        (0.5, (), None),
    ],
)
def test_quantile_as_promql(q: float, buckets: Any, want: float | None) -> None:
    got = quantile(q, buckets)
    assert got == (None if want is None else pytest.approx(want))


def test_stages_readiness_recovery_lag_and_dead_letters(metrics: Metrics) -> None:
    metrics.set_ready("borrower", False)
    metrics.set_ready("ingress", True)
    metrics.set_recovery("borrower", 0.25, 300)
    metrics.stage_restarted("borrower")
    metrics.dead_letters.labels("borrower", "undecodable").inc(2)
    metrics.set_lag("ingest.acme.loans", 0, 5)
    metrics.set_lag("ingest.acme.activity", 1, 7)
    metrics.set_lag("banks.north.subscriptions", 0, 1)
    metrics.set_lag("exchange.events", 0, 100)
    metrics.set_lag("exchange.requests", 1, 1)
    metrics.set_tenant_waiting("consents", "ghost", 2)
    stages = {s["stage"]: s for s in model(metrics)["stages"]}
    assert list(stages) == ["ingress", "consents", "borrower"]  # the topology's order
    assert (stages["ingress"]["ready"], stages["ingress"]["lag"]) == (True, 12)
    assert stages["ingress"]["partitions"] == 2
    assert stages["consents"]["ready"] is None  # no readiness reported
    assert stages["consents"]["tenants_waiting"] == {"ghost": 2}
    b = stages["borrower"]
    assert (b["ready"], b["recovery_progress"], b["recovery_remaining"]) == (False, 0.25, 300)
    assert (b["restarts"], b["dead_letters"], b["lag"]) == (1, 2, 101)
    assert b["dead_letters_by_reason"] == {"undecodable": 2}


def test_stages_show_their_transactions_and_commit_times(metrics: Metrics) -> None:
    for took in (0.002, 0.003, 0.004, 0.2):  # buckets 0.001, 0.005, ... 0.1, 0.25
        metrics.stage_commit.labels("borrower").observe(took)
    metrics.set_ready("ingress", True)
    stages = {s["stage"]: s for s in model(metrics)["stages"]}
    b = stages["borrower"]["commits"]
    assert b["count"] == 4
    assert b["p50_s"] == pytest.approx(0.001 + 0.004 * 2 / 3)  # within the 1-5 ms bucket
    assert 0.1 < b["p99_s"] <= 0.25
    assert stages["ingress"]["commits"] == {"count": 0.0, "p50_s": None, "p99_s": None}


def test_topics_map_to_the_stage_reading_them() -> None:
    assert stage_of_topic("ingest.acme.loans") == "ingress"
    assert stage_of_topic("banks.north.subscriptions") == "consents"
    assert stage_of_topic("exchange.consents") == "borrower"
    assert stage_of_topic("banks.north.feed") is None


def test_worker_identity_and_totals(metrics: Metrics) -> None:
    metrics.set_worker_info(version="9.9", app_id="cs", worker_id="w-1")
    metrics.alerts_for("NEW_LOAN").inc(2)
    metrics.audit_records.inc(3)
    m = model(metrics)
    assert m["worker"] == {"version": "9.9", "app_id": "cs", "worker_id": "w-1"}
    assert m["totals"]["alerts"] == {"NEW_LOAN": 2}
    assert m["totals"]["audit_records"] == 3
    assert m["generated_at"] == 1000.0
    json.dumps(m)  # JSON-ready


# -- the history --------------------------------------------------------------------------


def snap(m: Metrics, t: float) -> Snapshot:
    return Snapshot.of(flatten(m.registry.collect()), t)


def test_history_turns_counters_into_rates_per_interval(metrics: Metrics) -> None:
    history = History()
    history.add(snap(metrics, 100.0))
    metrics.events_in_for("acme", "loan").inc(50)
    metrics.rejects_for("acme", "TOO_OLD").inc(5)
    metrics.deliveries_for("north", "MONITORING").inc(10)
    metrics.observe_event_to_feed("north", 0.0, 0.02)
    history.add(snap(metrics, 105.0))
    metrics.events_in_for("acme", "loan").inc(10)
    metrics.events_in_for("newco", "loan").inc(20)  # first seen now: counts from 0
    history.add(snap(metrics, 110.0))
    history.add(snap(metrics, 110.0))  # not newer: ignored
    charts = history.charts()
    assert charts["t"] == [105.0, 110.0]
    lines = {c["id"]: c["lines"] for c in charts["series"]}
    assert lines["accepted"] == {"acme": [10.0, 2.0], "newco": [0.0, 4.0]}
    assert lines["rejected"] == {"acme": [1.0, 0.0]}
    assert lines["deliveries"] == {"north": [2.0, 0.0]}
    p99 = lines["latency_p99"]["north"]
    assert p99[0] == pytest.approx(0.01 + 0.015 * 0.99) and p99[1] is None  # none delivered


def test_history_keeps_only_the_newest(metrics: Metrics) -> None:
    history = History(keep=3)
    for t in range(10):
        history.add(snap(metrics, float(t)))
    assert len(history) == 3
    assert history.charts()["t"] == [8.0, 9.0]


def test_history_without_two_snapshots_has_no_points(metrics: Metrics) -> None:
    history = History()
    history.add(snap(metrics, 1.0))
    charts = history.charts()
    assert charts["t"] == [] and all(c["lines"] == {} for c in charts["series"])


# -- the credential and the form ------------------------------------------------------------


def test_token_file(tmp_path: Path) -> None:
    assert load_token(None) is None
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")
    token = load_token(path)
    assert token is not None and token.get_secret_value() == TOKEN
    path.write_text("short\n")
    with pytest.raises(ConfigError, match="shorter than 16"):
        load_token(path)
    with pytest.raises(ConfigError, match="cannot read the regulator token file"):
        load_token(tmp_path / "missing")
    path.write_bytes(b"\xff" * 20)
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_token(path)


def test_verdict_and_bearer() -> None:
    token = SecretStr(TOKEN)
    assert verdict(None, TOKEN) == "disabled"
    assert verdict(token, None) == verdict(token, "") == "missing"
    assert verdict(token, TOKEN + "x") == "wrong"
    assert verdict(token, "é" * 30) == "wrong"
    assert verdict(token, TOKEN) == "ok"
    assert bearer(f"Bearer {TOKEN}") == bearer(f"bearer  {TOKEN} ") == TOKEN
    assert bearer(f"Basic {TOKEN}") is bearer("Bearer ") is bearer(None) is None


def test_form_fields() -> None:
    assert form_fields(b"national_id=AB+12&token=t&x=1&x=2", FORM + ";charset=UTF-8") == {
        "national_id": "AB 12",
        "token": "t",
        "x": "1",
    }
    with pytest.raises(ValueError, match="x-www-form-urlencoded"):
        form_fields(b"{}", "application/json")
    with pytest.raises(ValueError, match="larger than"):
        form_fields(b"a=" + b"1" * MAX_FORM_BYTES, FORM)
    with pytest.raises(ValueError, match="not UTF-8") as caught:
        form_fields(b"national_id=\xff850101", FORM)
    assert "850101" not in str(caught.value)


# -- the routes, in process ---------------------------------------------------------------


Call = Callable[[TestClient], Awaitable[Any]]


def with_client(settings: Settings, metrics: Metrics, call: Call) -> Any:
    """``call(client)`` against a fresh app's routes (objections "read" as acme (2, 1))."""
    app = faust.App("status-test", broker="kafka://127.0.0.1:1", autodiscover=False)
    install_status(
        app,
        metrics,
        lambda: {"ingress": True},
        settings,
        disputes_reader=lambda _settings: {"acme": (2, 1)},
    )

    async def go() -> Any:
        app.web.init_server()
        async with TestClient(TestServer(app.web.web_app)) as client:  # type: ignore[attr-defined]
            return await call(client)

    return asyncio.run(go())


def serve(
    settings: Settings, metrics: Metrics, requests: list[tuple[str, str, dict[str, Any]]]
) -> list[tuple[int, dict[str, str], str]]:
    """Run ``(method, path, kwargs)`` requests in order: (status, headers, body) each."""

    async def call(client: TestClient) -> list[tuple[int, dict[str, str], str]]:
        out = []
        for method, path, kw in requests:
            resp = await client.request(method, path, **kw)
            out.append((resp.status, dict(resp.headers), await resp.text()))
        return out

    return with_client(settings, metrics, call)


def test_page_and_its_files_are_served_with_a_strict_policy(metrics: Metrics) -> None:
    got = serve(
        Settings(),
        metrics,
        [("GET", p, {}) for p in ("/status", "/status/status.js", "/status/status.css")],
    )
    (html, js, css) = got
    assert html[0] == js[0] == css[0] == 200
    assert html[1]["Content-Type"].startswith("text/html")
    assert js[1]["Content-Type"].startswith("text/javascript")
    assert css[1]["Content-Type"].startswith("text/css")
    assert "script-src 'self'" in html[1]["Content-Security-Policy"]
    assert '<script src="/status/status.js"' in html[2] and "/status.json" in js[2]


def test_status_json_reads_the_registry_and_the_objections(metrics: Metrics) -> None:
    metrics.events_in_for("acme", "loan").inc(7)
    first, _later = serve(Settings(), metrics, [("GET", "/status.json", {})] * 2)
    body = json.loads(first[2])
    assert first[0] == 200
    assert body["platforms"][0]["accepted"] == 7
    assert body["stages"][0]["ready"] is True
    assert body["regulator"] == {
        "enabled": False,
        "why": "CREDITSTREAM_STATUS_REGULATOR_TOKEN_FILE is not set",
    }
    assert {c["id"] for c in body["charts"]["series"]} >= {"accepted", "latency_p99"}


def test_objections_read_from_kafka_reach_the_page(metrics: Metrics) -> None:
    metrics.events_in_for("acme", "loan").inc()

    async def call(client: TestClient) -> list[tuple[Any, Any]]:
        shown: list[tuple[Any, Any]] = []
        deadline = time.monotonic() + 10
        while (2, 1) not in shown and time.monotonic() < deadline:
            row = (await (await client.get("/status.json")).json())["platforms"][0]
            shown.append((row["disputes_open"], row["disputes_overdue"]))
            await asyncio.sleep(0.05)  # a poll's pause, not synchronisation
        return shown

    shown = with_client(Settings(), metrics, call)
    assert shown[0] == (None, None)  # the first request starts the read in a thread
    assert shown[-1] == (2, 1)  # a later one carries what it found


def lookups(metrics: Metrics) -> dict[str, float]:
    """The lookups counted, by outcome (the outcomes still at zero left out)."""
    return {
        s.labels["outcome"]: s.value
        for fam in metrics.registry.collect()
        if fam.name == "creditstream_status_lookups"
        for s in fam.samples
        if s.name.endswith("_total") and s.value
    }


def test_lookup_is_disabled_without_a_token(metrics: Metrics) -> None:
    ((status, _h, text),) = serve(
        Settings(),
        metrics,
        [("POST", "/status/lookup", {"data": {"national_id": "AB1234", "token": TOKEN}})],
    )
    assert status == 403
    assert "disabled" in json.loads(text)["error"]
    assert lookups(metrics) == {"disabled": 1}


def test_lookup_refuses_missing_and_wrong_credentials_and_bad_input(
    metrics: Metrics, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "token"
    path.write_text(TOKEN)
    settings = Settings(status_regulator_token_file=path, hmac_key=SecretStr("k" * 32))
    nid = "850101-1234"
    caplog.set_level(logging.DEBUG)
    got = serve(
        settings,
        metrics,
        [
            ("POST", "/status/lookup", {"data": {"national_id": nid}}),
            ("POST", "/status/lookup", {"data": {"national_id": nid, "token": "nope"}}),
            (
                "POST",
                "/status/lookup",
                {"data": {"national_id": nid}, "headers": {"Authorization": "Bearer nope"}},
            ),
            ("POST", "/status/lookup", {"data": {"national_id": "!", "token": TOKEN}}),
            ("POST", "/status/lookup", {"json": {"national_id": nid, "token": TOKEN}}),
            ("GET", "/status/lookup", {}),
        ],
    )
    statuses = [status for status, _h, _t in got]
    assert statuses == [401, 403, 403, 400, 400, 405]
    assert got[0][1]["WWW-Authenticate"].startswith("Bearer")
    assert "credential is wrong" in got[1][2]
    assert lookups(metrics) == {"missing": 1, "wrong": 2, "invalid": 2}
    assert all(nid not in text for _s, _h, text in got)
    assert nid not in caplog.text and "8501011234" not in caplog.text

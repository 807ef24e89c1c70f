"""The worker's status page in a real browser (headless Chromium) while events flow.

A real ``creditstream worker`` ingests simulated platform traffic and feeds two banks
that subscribed to overlapping borrowers. Chromium, driven by selenium through Debian's
``chromedriver``, loads ``/status``; the numbers it shows must lie between two scrapes
of the worker's ``/metrics`` taken around the page's poll (counters keep moving). The
regulator lookup, typed into the page's form, must list exactly the banks the audit
trail names for that person; a wrong credential gets 403 and is counted; the national
ID never appears in the worker's log. A screenshot is saved under the test's tmp
directory (its path printed); a failing assertion prints the page's text.

``deploy/local/install-chromium.sh`` installs the browser (``./run test`` does); without
it the test skips, or fails when ``CREDITSTREAM_REQUIRE_TOOLS=1`` or ``CI=true``.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from streams import topics
from streams.commands.simulate import SimulationConfig, SimulationSummary, run_simulation
from streams.domain.privacy import Pseudonymizer, normalize_national_id
from streams.runtime.auditlog import read_audit
from streams.runtime.provision import ensure_bank
from streams.sdk.rights import file_dispute
from streams.sdk.subscriber import BankSubscriber
from streams.settings import Settings
from streams.simulator.load import SimConfig, national_ids, platform_names
from tests.integration.kafka_helpers import consume_all, unique
from tests.integration.workers import TEST_HMAC_KEY, WorkerProcess, running_worker, worker_env
from tests.waiting import NotYet, eventually

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
TOKEN = "regulator-token-" + "0123456789abcdef"
BANKS = ("northbank", "southbank")
Metrics = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def _browser_or_skip() -> None:
    """Chromium and its driver, or a skip (a failure when the tools are required)."""
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not shutil.which(p)]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("selenium (pip install -e '.[dev]')")
    if not missing:
        return
    required = {"1", "true", "yes"}
    if os.environ.get("CREDITSTREAM_REQUIRE_TOOLS", "").lower() in required or (
        os.environ.get("CI", "").lower() in required
    ):
        pytest.fail(f"{', '.join(missing)} missing: run deploy/local/install-chromium.sh")
    pytest.skip(f"{', '.join(missing)} missing (deploy/local/install-chromium.sh)")


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium session (selenium's WebDriver), closed afterwards."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(arg)
    options.add_argument("--window-size=1400,2200")
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


@contextmanager
def showing_page_on_failure(driver: Any) -> Iterator[None]:
    """On a failed assertion, print what the page showed (its text) before failing."""
    try:
        yield
    except AssertionError:
        print("--- the status page showed ---\n" + driver.find_element("tag name", "body").text)
        raise


def _sum(metrics: Metrics, name: str, **labels: str) -> float:
    want = set(labels.items())
    return sum(v for (n, ls), v in metrics.items() if n == name and want <= set(ls))


def _number(text: str) -> float:
    return float(text.replace(",", ""))


# One read of the rendered tables, all from the same render.
READ_PAGE = """
const rows = (sel, key) => Object.fromEntries([...document.querySelectorAll(sel)].map(
  (tr) => [tr.dataset[key], Object.fromEntries([...tr.querySelectorAll("td[data-field]")]
    .map((td) => [td.dataset.field, td.textContent])) ]));
return {generated_at: Number(document.body.dataset.generatedAt || 0),
  platforms: rows("#platform-rows tr[data-platform]", "platform"),
  banks: rows("#bank-rows tr[data-bank]", "bank"),
  stages: Object.fromEntries([...document.querySelectorAll("#stage-cards [data-stage]")]
    .map((c) => [c.dataset.stage, c.querySelector("[data-field=ready]").textContent])),
  commits: Object.fromEntries([...document.querySelectorAll("#stage-cards [data-stage]")]
    .map((c) => [c.dataset.stage, c.querySelector("[data-field=commits]").textContent]))};
"""


def _page_after(driver: Any, moment: float) -> dict[str, Any]:
    """The page as rendered from a /status.json generated after ``moment`` (unix s)."""

    def fresh() -> dict[str, Any] | NotYet:
        page: dict[str, Any] = driver.execute_script(READ_PAGE)
        return page if page["generated_at"] > moment else NotYet("the page has not polled yet")

    return eventually(fresh, what="the page polled /status.json", timeout=15)


def _audit_banks(settings: Settings, borrower_id: str) -> list[str]:
    """The bank of every audit record of ``borrower_id`` (the regulator's ground truth)."""
    return [
        e.datum["bank"]
        for e in read_audit(settings.kafka_client_config(), idle_timeout=10)
        if e.datum is not None and e.datum["borrower_id"] == borrower_id
    ]


def _post_lookup(worker: WorkerProcess, **fields: str) -> tuple[int, dict[str, Any]]:
    url = f"http://127.0.0.1:{worker.env['CREDITSTREAM_WEB_PORT']}/status/lookup"
    body = urllib.parse.urlencode(fields).encode()
    try:
        with urllib.request.urlopen(urllib.request.Request(url, body), timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _submit_lookup(driver: Any, national_id: str, token: str) -> tuple[str, list[str], str]:
    """Type the lookup into the page's form: (HTTP status, the bank of every delivery
    listed, the answer's visible text)."""
    driver.find_element("id", "national-id").send_keys(national_id)
    token_box = driver.find_element("id", "token")
    token_box.clear()
    token_box.send_keys(token)
    driver.execute_script("document.getElementById('lookup-result').dataset.status = ''")
    driver.find_element("css selector", "#lookup-form button").click()

    def answered() -> str | NotYet:
        status = driver.find_element("id", "lookup-result").get_attribute("data-status")
        return status if status not in ("", "pending", None) else NotYet(f"status {status!r}")

    status = eventually(answered, what="the lookup answered", timeout=30)
    # Every delivery's row (folded away under <details>: read its text, not what shows).
    cells = driver.find_elements("css selector", "#lookup-deliveries td[data-field=bank]")
    banks = [td.get_attribute("textContent") for td in cells]
    return status, banks, driver.find_element("id", "lookup-result").text


def test_status_page_in_a_browser(private_bootstrap: str, tmp_path: Path) -> None:
    _browser_or_skip()
    token_file = tmp_path / "regulator-token"
    token_file.write_text(TOKEN + "\n")
    env = worker_env(private_bootstrap, CREDITSTREAM_STATUS_REGULATOR_TOKEN_FILE=str(token_file))
    settings = Settings(bootstrap=private_bootstrap, partitions=2)
    conf = {"bootstrap.servers": private_bootstrap}
    sim = SimConfig(
        now_ms=int(time.time() * 1000),
        platforms=3,
        events=1500,
        borrowers=40,
        bad_share=0.03,
        seed=18,
        platform_prefix="s" + unique("s")[-5:] + "-",
    )
    people = national_ids(sim, 8)
    for bank in BANKS:
        ensure_bank(conf, bank, 2)
    with running_worker(env) as worker:
        expires = datetime.now(UTC) + timedelta(days=30)
        subscribed = {BANKS[0]: people[:5], BANKS[1]: people[3:]}  # people[3:5] at both
        for bank, ids in subscribed.items():
            with BankSubscriber(bank, settings) as sub:
                for i, nid in enumerate(ids):
                    sub.subscribe(nid, f"c{i}", f"consent-{i}", "CREDIT_APPLICATION", expires)
            answers = consume_all(conf, topics.feed(bank), expected=len(ids), timeout=60)
            assert len(answers) == len(ids)
        done: list[SimulationSummary] = []
        sender = threading.Thread(
            target=lambda: done.append(
                run_simulation(settings, SimulationConfig(sim=sim, rate=250.0))
            ),
            daemon=True,
        )
        sender.start()
        base = f"http://127.0.0.1:{env['CREDITSTREAM_WEB_PORT']}"
        with chromium() as driver, showing_page_on_failure(driver):
            driver.get(f"{base}/status")
            assert driver.title == "creditstream · worker status"

            # While events flow: every number lies between two scrapes around one poll.
            def both_banks_served() -> bool | NotYet:
                now = worker.metrics()
                got = [_sum(now, "creditstream_feed_deliveries_total", bank=b) for b in BANKS]
                return all(got) or NotYet(f"deliveries {got}")

            eventually(both_banks_served, what="deliveries flow to both banks", timeout=30)
            before, moment = worker.metrics(), time.time()
            page = _page_after(driver, moment)
            after = worker.metrics()
            platforms = platform_names(sim)
            assert set(platforms) <= set(page["platforms"]), page["platforms"].keys()
            for p in platforms:
                shown = page["platforms"][p]
                for field, family in (
                    ("accepted", "creditstream_events_in_total"),
                    ("rejected", "creditstream_rejects_total"),
                ):
                    low, high = _sum(before, family, platform=p), _sum(after, family, platform=p)
                    assert low <= _number(shown[field]) <= high, (p, field, low, shown, high)
            assert set(BANKS) <= set(page["banks"])
            for bank in BANKS:
                family = "creditstream_feed_deliveries_total"
                low, high = _sum(before, family, bank=bank), _sum(after, family, bank=bank)
                shown = _number(page["banks"][bank]["deliveries"])
                assert low <= shown <= high, (bank, low, shown, high)
                assert page["banks"][bank]["p99"] != "–"  # latency observed for both banks
            assert page["stages"] == {s: "ready" for s in ("ingress", "consents", "borrower")}
            for stage, shown in page["commits"].items():  # "1,234, p50 4.2 ms, p99 31 ms"
                family = "creditstream_stage_commit_seconds_count"
                low, high = _sum(before, family, stage=stage), _sum(after, family, stage=stage)
                assert low <= _number(shown.split(", p50 ")[0]) <= high, (stage, shown)
                assert low > 0 and ", p99 " in shown, (stage, shown)

            # The charts draw a line per platform once a few samples were taken (5 s apart).
            eventually(
                lambda: driver.find_elements(
                    "css selector", "figure[data-chart=accepted] path.series"
                ),
                what="the accepted-records chart has lines",
                timeout=20,
            )

            sender.join(60)
            assert done, "the simulation did not finish"
            # Someone both banks subscribed to, with a loan: they object to it (open, and
            # shown as such), then the regulator looks them up.
            both = {normalize_national_id(p) for p in people[3:5]}
            nid, platform, loan_id = next(
                (nid, s.record.platform, str(s.record.datum["loan_id"]))
                for s in done[0].good_records()
                if s.record.datum is not None
                and s.record.topic_kind == "loans"
                and (nid := normalize_national_id(str(s.record.datum["national_id"]))) in both
            )
            pseudo = Pseudonymizer({1: TEST_HMAC_KEY}, 1)
            file_dispute(settings, pseudo, nid, platform, loan_id, "not mine", "operator")

            def dispute_shown() -> dict[str, Any] | NotYet:
                now = driver.execute_script(READ_PAGE)
                row = now["platforms"][platform]
                shown = (row["disputes_open"], row["disputes_overdue"], row["disputes"])
                return now if shown == ("1", "0", "opened 1") else NotYet(f"shown {shown}")

            page = eventually(dispute_shown, what="the open objection is shown", timeout=30)
            others = [p for p in platforms if p != platform]
            assert [page["platforms"][p]["disputes_open"] for p in others] == ["0"] * len(others)

            # The regulator's lookup, typed as the ID was given (with its separators).
            typed = next(p for p in people if normalize_national_id(p) == nid)
            borrower_id = pseudo.borrower_id(nid)

            def delivered_to_both() -> list[str] | NotYet:
                banks = _audit_banks(settings, borrower_id)
                return banks if set(banks) == set(BANKS) else NotYet(f"audit names {banks}")

            truth_before = eventually(
                delivered_to_both, what="both banks received the person's data", timeout=30
            )
            status, listed, text = _submit_lookup(driver, typed, TOKEN)
            truth_after = _audit_banks(settings, borrower_id)
            assert status == "200", text
            assert set(listed) == set(truth_after) == set(BANKS), (listed, truth_after)
            for bank in BANKS:  # deliveries may still be made: between two reads
                assert truth_before.count(bank) <= listed.count(bank) <= truth_after.count(bank)
            assert f"deliveries to {', '.join(sorted(BANKS))}. Audit chain: verified" in text
            assert driver.find_element("id", "national-id").get_attribute("value") == ""
            screenshot = tmp_path / "status-page.png"
            driver.save_screenshot(str(screenshot))
            print(f"status page screenshot: {screenshot}")

            # A wrong credential: 403 on the page, and counted; none at all: 401.
            status, listed, text = _submit_lookup(driver, typed, TOKEN + "x")
            assert (status, listed) == ("403", [])
            assert "credential is wrong" in text
            assert _post_lookup(worker, national_id=typed)[0] == 401
            lookups = worker.metrics()
            assert _sum(lookups, "creditstream_status_lookups_total", outcome="wrong") == 1
            assert _sum(lookups, "creditstream_status_lookups_total", outcome="missing") == 1
            assert _sum(lookups, "creditstream_status_lookups_total", outcome="answered") == 1
        assert typed not in worker.log() and nid not in worker.log()

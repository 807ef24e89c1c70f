"""The status page's routes on the worker's web server (Faust's aiohttp, beside /metrics).

:func:`install_status` registers, on ``Settings.web_port``:

- ``GET /status``: the page (``static/status.html``, its script and style under
  ``/status/``), shipped inside the package; it polls ``/status.json`` every 2 s.
- ``GET /status.json``: :func:`streams.worker.status.model.page_model` of this worker's
  registry (readiness gauges refreshed first, as ``/metrics`` does), the charts of
  :class:`streams.worker.status.history.History` (a Faust timer adds a snapshot every
  5 s), and whether the regulator lookup is enabled. The platforms' open and overdue
  objections are read from Kafka in a thread when a request finds them older than
  :data:`DISPUTES_EVERY_S` or this worker's objection counters moved (never when
  nobody looks); the answer carries the last value read meanwhile (``null`` before the
  first read, an error note if it failed).
- ``POST /status/lookup``: the regulator's "who received this person's data", the
  national ID in a url-encoded form body (never in a URL), the credential as the form's
  ``token`` or an ``Authorization: Bearer`` header. 401 without a credential, 403 with a
  wrong one or when the lookup is disabled (no token configured), 400 for a malformed
  ID, 503 when Kafka does not answer; 200 with
  :func:`streams.worker.status.readers.deliveries_of`'s answer. Each outcome is counted
  in ``creditstream_status_lookups_total{outcome}``; nothing about the ID is logged.

Everything but the lookup is read-only and open. No stage's hot path changes: the page
reads the counters the stages already keep.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from importlib import resources
from typing import Any

import faust
from faust import web

from streams.domain.privacy import (
    Pseudonymizer,
    is_valid_national_id,
    normalize_national_id,
    pseudonymizer_from_settings,
)
from streams.errors import BrokerError, ConfigError
from streams.runtime.metrics import Metrics
from streams.settings import Settings
from streams.worker.status.access import (
    TOKEN_SETTING,
    bearer,
    form_fields,
    load_token,
    verdict,
)
from streams.worker.status.history import SAMPLE_EVERY_S, History, Snapshot
from streams.worker.status.model import flatten, page_model
from streams.worker.status.readers import deliveries_of, read_disputes
from streams.worker.web import Readiness, readiness_report

log = logging.getLogger(__name__)

#: What reads ``{platform: (open, overdue)}`` objections (blocking; run in a thread).
DisputesReader = Callable[[Settings], dict[str, tuple[int, int]]]

PAGE_PATH = "/status"
JSON_PATH = "/status.json"
LOOKUP_PATH = "/status/lookup"
#: Seconds the platforms' objections read from Kafka are reused (unless they moved).
DISPUTES_EVERY_S = 30.0
DISPUTES_FAMILY = "creditstream_disputes_total"
#: Seconds a lookup may go without progress on Kafka before it gives up.
LOOKUP_TIMEOUT_S = 15.0
#: Static files by the name they are served as (``/status/<name>``) and their type.
STATIC = {
    "status.js": "text/javascript; charset=utf-8",
    "status.css": "text/css; charset=utf-8",
}
#: Headers of every page answer: nothing from elsewhere runs, nobody frames it.
SAFE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def _static(name: str) -> bytes:
    return resources.files("streams.worker.status").joinpath("static", name).read_bytes()


class StatusPage:
    """The page's state: the history, the objections read last, the lookup's gate."""

    def __init__(
        self,
        metrics: Metrics,
        readiness: Readiness,
        settings: Settings,
        disputes_reader: DisputesReader = read_disputes,
    ) -> None:
        self.metrics = metrics
        self.readiness = readiness
        self.settings = settings
        self.token = load_token(settings.status_regulator_token_file)
        self.pseudo: Pseudonymizer | None = None
        if self.token is not None:  # fail at start, not at the first lookup
            self.pseudo = pseudonymizer_from_settings(
                settings.hmac_key, settings.hmac_key_file, settings.hmac_key_version
            )
        self.history = History()
        self.disputes: dict[str, tuple[int, int]] | None = None
        self.disputes_error: str | None = None
        self.disputes_at = float("-inf")
        self.disputes_every_s = DISPUTES_EVERY_S
        self.disputes_reader = disputes_reader
        self._disputes_counted = 0.0
        self._rereads = 0
        self._reading: asyncio.Task[None] | None = None
        self._lookups = asyncio.Semaphore(2)
        self.lookups = metrics.status_lookups

    def sample(self) -> None:
        """Add a snapshot of the registry to the history (the timer calls it)."""
        self.history.add(Snapshot.of(flatten(self.metrics.registry.collect()), time.time()))

    def model(self) -> dict[str, Any]:
        """The body of ``/status.json`` (call it on the event loop: it may start a read
        of the objections)."""
        _, body = readiness_report(self.readiness)
        for stage, ok in body["stages"].items():
            self.metrics.set_ready(stage, ok)
        samples = flatten(self.metrics.registry.collect())
        self.refresh_disputes(sum(v for n, _, v in samples if n == DISPUTES_FAMILY))
        out = page_model(samples, now=time.time(), disputes=self.disputes)
        out["charts"] = self.history.charts()
        out["sample_every_s"] = SAMPLE_EVERY_S
        out["disputes_error"] = self.disputes_error
        out["regulator"] = {
            "enabled": self.token is not None,
            "why": None if self.token is not None else f"{TOKEN_SETTING} is not set",
        }
        return out

    def refresh_disputes(self, counted: float) -> None:
        """Start reading the objections in a thread when the last read is older than
        ``disputes_every_s``, or when this worker's count of them (``counted``) moved
        since; then twice, as a transaction's markers may land just after its commit
        returned (a read in between would not see its records yet)."""
        if counted != self._disputes_counted:
            self._disputes_counted, self._rereads = counted, 2
        if self._reading is not None and not self._reading.done():
            return
        stale = time.monotonic() - self.disputes_at >= self.disputes_every_s
        if not stale and not self._rereads:
            return
        self._rereads = max(0, self._rereads - 1)
        self.disputes_at = time.monotonic()
        self._reading = asyncio.get_running_loop().create_task(self._read_disputes())

    async def _read_disputes(self) -> None:
        try:
            self.disputes = await asyncio.to_thread(self.disputes_reader, self.settings)
            self.disputes_error = None
        except Exception as exc:  # shown on the page; the rest of it still works
            log.warning("status page: reading the platforms' objections failed: %s", exc)
            self.disputes_error = type(exc).__name__

    async def lookup(self, fields: dict[str, str], header: str | None) -> tuple[int, Any]:
        """``(status, body)`` of one lookup (see the module doc)."""
        presented = fields.get("token") or bearer(header)
        seen = verdict(self.token, presented)
        if seen != "ok" or self.pseudo is None:
            self.lookups.labels(seen).inc()
            why = {
                "disabled": f"the regulator lookup is disabled on this worker: {TOKEN_SETTING}"
                " is not set",
                "missing": "a regulator credential is required",
                "wrong": "the regulator credential is wrong",
            }[seen]
            return (401 if seen == "missing" else 403), {"error": why}
        national = normalize_national_id(fields.get("national_id", ""))
        if not is_valid_national_id(national):
            self.lookups.labels("invalid").inc()
            return 400, {"error": "the national ID is not 4-32 letters/digits once normalized"}
        async with self._lookups:
            try:
                answer = await asyncio.to_thread(
                    deliveries_of, self.settings, self.pseudo, national, timeout=LOOKUP_TIMEOUT_S
                )
            except (BrokerError, ConfigError) as exc:  # their messages never hold the ID
                self.lookups.labels("failed").inc()
                return 503, {"error": f"the audit trail could not be read: {exc}"}
        self.lookups.labels("answered").inc()
        return 200, answer


def install_status(
    app: faust.App,
    metrics: Metrics,
    readiness: Readiness,
    settings: Settings,
    *,
    disputes_reader: DisputesReader = read_disputes,
) -> StatusPage:
    """Register the status page's routes and sampling timer on ``app`` (before start);
    ``disputes_reader`` reads the platforms' objections (tests give their own)."""
    page = StatusPage(metrics, readiness, settings, disputes_reader)
    html = _static("status.html")
    files = {name: (_static(name), ctype) for name, ctype in STATIC.items()}

    @app.page(PAGE_PATH)
    async def page_view(self: web.View, request: web.Request) -> web.Response:
        return self.bytes(html, content_type="text/html", headers=dict(SAFE_HEADERS))

    for name, (body, ctype) in files.items():

        async def static_view(
            self: web.View, request: web.Request, body: bytes = body, ctype: str = ctype
        ) -> web.Response:
            return self.bytes(body, headers={**SAFE_HEADERS, "Content-Type": ctype})

        app.page(f"{PAGE_PATH}/{name}", name=f"status-{name}")(static_view)

    @app.page(JSON_PATH)
    async def json_view(self: web.View, request: web.Request) -> web.Response:
        return self.json(page.model(), headers={"Cache-Control": "no-store"})

    @app.page(LOOKUP_PATH)
    class LookupView(web.View):
        async def post(self, request: web.Request) -> web.Response:
            body = await self.read_request_content(request)
            try:
                fields = form_fields(body, request.headers.get("Content-Type", ""))
            except ValueError as exc:
                page.lookups.labels("invalid").inc()
                status, answer = 400, {"error": str(exc)}
            else:
                auth = request.headers.get("Authorization")
                status, answer = await page.lookup(fields, auth)
            headers = {"Cache-Control": "no-store"}
            if status == 401:
                headers["WWW-Authenticate"] = 'Bearer realm="creditstream regulator"'
            return self.json(answer, status=status, headers=headers)

    async def sample_status() -> None:
        page.sample()

    app.timer(interval=SAMPLE_EVERY_S)(sample_status)  # faust's decorator is untyped

    return page

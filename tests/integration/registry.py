"""A real Confluent-compatible Schema Registry for the registry tests.

The registry is Apicurio Registry 2.4.2.Final (in-memory storage, Confluent API under
``/apis/ccompat/v7``), built from Maven Central by ``deploy/local/install-registry.sh``,
which prints the path of its runner jar; ``./run test`` puts that path in
``CREDITSTREAM_REGISTRY_JAR``. Without it the tests that need the registry skip, saying
why, unless tools are required (``CREDITSTREAM_REQUIRE_TOOLS=1`` or ``CI=true``): then
they fail.

Use the ``schema_registry`` fixture by importing its function into the test module::

    from tests.integration.registry import RunningRegistry, schema_registry_fixture  # noqa: F401

It starts one registry for the session on a free 127.0.0.1 port, waits until
``/apis/ccompat/v7/subjects`` answers, sets the global compatibility level to BACKWARD
(Apicurio's default is NONE; Confluent's, and the compose file's registry, is BACKWARD)
and stops the registry at the end. Its storage is shared by every test of the session:
tests use subjects of their own.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from tests.integration.kafka_helpers import free_port
from tests.waiting import NotInTimeError, NotYet, eventually

JAR_ENV = "CREDITSTREAM_REGISTRY_JAR"
CCOMPAT = "/apis/ccompat/v7"
CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"
_TRUE = {"1", "true", "yes"}


def registry_jar() -> Path:
    """The runner jar named by ``CREDITSTREAM_REGISTRY_JAR``; skips when it is unset
    (fails when tools are required); a name that is not a file always fails."""
    named = os.environ.get(JAR_ENV)
    if not named:
        required = os.environ.get("CI", "").lower() in _TRUE
        required |= os.environ.get("CREDITSTREAM_REQUIRE_TOOLS", "").lower() in _TRUE
        how = f"{JAR_ENV}=$(bash deploy/local/install-registry.sh)"
        if required:
            pytest.fail(f"{JAR_ENV} is not set: run with {how}")
        pytest.skip(f"no Schema Registry: {JAR_ENV} is not set ({how}); required in CI")
    jar = Path(named)
    if not jar.is_file():
        pytest.fail(f"{JAR_ENV}={named} is not a file: run deploy/local/install-registry.sh")
    return jar


class RunningRegistry:
    """A started registry: ``url`` is its Confluent-compatible API (what
    ``CREDITSTREAM_SCHEMA_REGISTRY_URL`` and confluent-kafka's client take)."""

    def __init__(self, proc: subprocess.Popen[bytes], port: int, log_path: Path) -> None:
        self.proc = proc
        self.port = port
        self.log_path = log_path
        self.url = f"http://127.0.0.1:{port}{CCOMPAT}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """``method`` on ``url + path`` with a JSON ``body``; (HTTP status, decoded JSON).
        An HTTP error status is returned, not raised; a connection failure raises."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            self.url + path, data=data, method=method, headers={"Content-Type": CONTENT_TYPE}
        )
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")


class RegistryExitedError(Exception):
    """The registry process ended while it was expected to come up."""


def _answers(registry: RunningRegistry) -> bool | NotYet:
    """True once ``GET /subjects`` answers 200; raises if the process died."""
    if registry.proc.poll() is not None:
        raise RegistryExitedError(f"the registry exited with code {registry.proc.returncode}")
    try:
        status, _ = registry.request("GET", "/subjects")
    except OSError as exc:  # not listening yet
        return NotYet(f"no answer on {registry.url}/subjects ({exc})")
    return status == 200 or NotYet(f"/subjects answered {status}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def _tail(registry: RunningRegistry, lines: int = 30) -> str:
    return "\n".join(registry.log().splitlines()[-lines:])


def _start(jar: Path, timeout: float, attempts: int = 3) -> RunningRegistry:
    """A registry answering on a free port; a port taken before Java bound it
    (``free_port`` is check-then-use) is replaced by a fresh one, up to ``attempts``."""
    for attempt in range(1, attempts + 1):
        port = free_port()
        log_dir = os.environ.get("CREDITSTREAM_TEST_ROOT") or None
        log_path = Path(tempfile.mkstemp(prefix="cs-registry-", suffix=".log", dir=log_dir)[1])
        with open(log_path, "wb") as out:
            proc = subprocess.Popen(
                ["java", "-Xmx512m", "-XX:TieredStopAtLevel=1",
                 f"-Dquarkus.http.port={port}", "-Dquarkus.http.host=127.0.0.1",
                 "-jar", str(jar)],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )  # fmt: skip
        registry = RunningRegistry(proc, port, log_path)
        try:
            eventually(partial(_answers, registry), what="the registry answers", timeout=timeout)
            return registry
        except RegistryExitedError as exc:
            taken = "already in use" in registry.log() or "already bound" in registry.log()
            if taken and attempt < attempts:
                print(f"registry: port {port} was taken, retrying")
                continue
            failure = f"{exc}; log tail ({log_path}):\n{_tail(registry)}"
        except NotInTimeError as exc:
            _stop(proc)
            failure = f"{exc}; log tail ({log_path}):\n{_tail(registry)}"
        raise AssertionError(failure)
    raise AssertionError("unreachable")


@contextmanager
def running_registry(jar: Path, *, timeout: float = 60.0) -> Iterator[RunningRegistry]:
    """Start the registry of ``jar``, set its global compatibility level to BACKWARD,
    yield it and stop it (SIGTERM, SIGKILL after 30 s); its log tail is printed then."""
    registry = _start(jar, timeout)
    try:
        status, body = registry.request("PUT", "/config", {"compatibility": "BACKWARD"})
        assert status == 200, (status, body)
        assert registry.request("GET", "/config") == (200, {"compatibilityLevel": "BACKWARD"})
        yield registry
    finally:
        _stop(registry.proc)
        print(f"--- registry log tail ({registry.log_path}) ---\n{_tail(registry)}")


@pytest.fixture(scope="session", name="schema_registry")
def schema_registry_fixture() -> Iterator[RunningRegistry]:
    """The session's registry (see the module docstring); skips or fails without a jar."""
    with running_registry(registry_jar()) as registry:
        yield registry

"""Run ``creditstream worker`` as a real separate process for integration tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.integration.kafka_helpers import free_port, unique
from tests.waiting import NotInTimeError, NotYet, eventually

#: A fixed test key (>= 16 bytes); tests compute expected borrower_ids with it.
TEST_HMAC_KEY = "integration-test-key-0123456789abcdef"


class WorkerProcess:
    """A running worker; ``log()`` returns what it printed so far."""

    def __init__(self, proc: subprocess.Popen[bytes], log_path: Path, env: dict[str, str]) -> None:
        self.proc = proc
        self.log_path = log_path
        self.env = env

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM, then SIGKILL if it will not stop; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return self.proc.returncode

    def metrics(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        """Every sample on the worker's /metrics, by (name, sorted labels)."""
        url = f"http://127.0.0.1:{self.env['CREDITSTREAM_WEB_PORT']}/metrics"
        with urllib.request.urlopen(url, timeout=10) as resp:
            text = resp.read().decode()
        return {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
        }

    def kill(self) -> None:
        """SIGKILL: a crash, as chaos tests need."""
        self.proc.kill()
        self.proc.wait(10)


def worker_env(bootstrap: str, **overrides: str) -> dict[str, str]:
    """Environment for a worker with its own app id, state dir and web port."""
    env = dict(os.environ)
    env.update(
        {
            "CREDITSTREAM_BOOTSTRAP": bootstrap,
            "CREDITSTREAM_APP_ID": unique("cs"),
            "CREDITSTREAM_STATE_DIR": tempfile.mkdtemp(prefix="cs-state-"),
            "CREDITSTREAM_WEB_PORT": str(free_port()),
            "CREDITSTREAM_HMAC_KEY": TEST_HMAC_KEY,
            "CREDITSTREAM_PARTITIONS": "2",
        }
    )
    env.update(overrides)
    return env


def _ready(worker: WorkerProcess) -> bool | NotYet:
    """True once the worker's /ready answers 200; raises ``WorkerExitedError`` if it died."""
    if not worker.alive():
        raise WorkerExitedError(worker.proc.returncode)
    url = f"http://127.0.0.1:{worker.env['CREDITSTREAM_WEB_PORT']}/ready"
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status == 200 or NotYet(f"/ready answered {resp.status}")
    except urllib.error.HTTPError as exc:  # 503 while a stage is not (yet) ready
        return NotYet(f"/ready answered {exc.code}: {exc.read().decode(errors='replace')}")
    except OSError as exc:  # the web server is not up yet
        return NotYet(f"no answer on {url} ({exc})")


class WorkerExitedError(Exception):
    """The worker process ended while it was expected to come up."""

    def __init__(self, code: int | None) -> None:
        super().__init__(f"the worker exited with code {code}")
        self.code = code


def _tail(worker: WorkerProcess, lines: int = 40) -> str:
    return "\n".join(worker.log().splitlines()[-lines:])


def _start(env: dict[str, str]) -> WorkerProcess:
    log_path = Path(tempfile.mkstemp(prefix="cs-worker-", suffix=".log")[1])
    with open(log_path, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streams.cli", "worker", "--loglevel", "info"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    return WorkerProcess(proc, log_path, env)


def _started_ready(env: dict[str, str], timeout: float, attempts: int = 3) -> WorkerProcess:
    """A worker whose /ready answers 200; fails at once, with its log tail, if it exits
    or is not ready within ``timeout``. If its web port was taken before it bound it
    (``free_port`` is check-then-use), it is started again on a fresh port (in ``env``)."""
    for attempt in range(1, attempts + 1):
        worker = _start(env)
        try:
            eventually(partial(_ready, worker), what="the worker is ready", timeout=timeout)
            return worker
        except WorkerExitedError as exc:
            taken = "address already in use" in worker.log().lower()
            if taken and attempt < attempts:
                print(f"worker: web port {env['CREDITSTREAM_WEB_PORT']} was taken, retrying")
                env["CREDITSTREAM_WEB_PORT"] = str(free_port())
                continue
            failure = f"{exc} before it was ready; log tail ({worker.log_path}):\n{_tail(worker)}"
        except NotInTimeError as exc:
            worker.stop()
            failure = f"{exc}; worker log tail ({worker.log_path}):\n{_tail(worker)}"
        raise AssertionError(failure) from None
    raise AssertionError("unreachable")


@contextmanager
def running_worker(
    env: dict[str, str], *, ready: bool = True, ready_timeout: float = 120.0
) -> Iterator[WorkerProcess]:
    """Start ``creditstream worker`` with ``env``; stop it (and show its log) afterwards.

    With ``ready`` (the default) it yields only once ``GET /ready`` answers 200 (every
    stage serving), and fails at once with the worker's log tail if the worker exits
    first or is not ready within ``ready_timeout``; a web port taken meanwhile is
    replaced in ``env`` and the worker started again. ``ready=False`` yields as soon as
    the process is started: for a worker expected to exit, or never to be ready.
    """
    worker = _started_ready(env, ready_timeout) if ready else _start(env)
    try:
        yield worker
    finally:
        worker.stop()
        print(f"--- worker log tail ({worker.log_path}) ---\n{_tail(worker)}")


def run_cli(
    bootstrap: str, *args: str, stdin: str | None = None, hmac_key: str = TEST_HMAC_KEY
) -> subprocess.CompletedProcess[str]:
    """``creditstream *args`` as a separate process against ``bootstrap`` with
    ``hmac_key`` and nothing else of this environment's ``CREDITSTREAM_*``; ``stdin``
    (a national ID, say) is typed in with a newline."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREDITSTREAM_")}
    env |= {"CREDITSTREAM_BOOTSTRAP": bootstrap, "CREDITSTREAM_HMAC_KEY": hmac_key}
    return subprocess.run(
        [sys.executable, "-m", "streams.cli", *args],
        input=None if stdin is None else stdin + "\n",
        check=False,
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

"""Run ``creditstream worker`` as a real separate process for integration tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.integration.kafka_helpers import free_port, unique

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


@contextmanager
def running_worker(env: dict[str, str]) -> Iterator[WorkerProcess]:
    """Start ``creditstream worker`` with ``env``; stop it (and show its log) afterwards."""
    log_path = Path(tempfile.mkstemp(prefix="cs-worker-", suffix=".log")[1])
    with open(log_path, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streams.cli", "worker", "--loglevel", "info"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    worker = WorkerProcess(proc, log_path, env)
    try:
        yield worker
    finally:
        worker.stop()
        tail = "\n".join(worker.log().splitlines()[-40:])
        print(f"--- worker log tail ({log_path}) ---\n{tail}")

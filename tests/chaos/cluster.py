"""The moving parts a chaos run breaks: one real broker and a pool of real workers.

``ChaosBroker`` is a single-node KRaft broker (``deploy/local``, the same code as
``creditstream broker start``) that can be SIGKILLed and started again on the same
data dir and ports. ``WorkerPool`` holds worker *slots*: each slot is one worker
identity (its own state dir, hence its own ``instance-id``, and web port) that can be
started, SIGKILLed, SIGSTOPped/SIGCONTed and stopped; a restarted slot is the same
worker coming back, as under a process supervisor. Every action is logged with its
time so a failing run can be read back.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from streams.localkafka import BrokerSpec, kill, start, stop
from tests.integration.conftest import start_broker
from tests.integration.workers import worker_env

#: Short enough that kills, pauses and scale-down settle within a test's minutes.
SESSION_TIMEOUT_MS = 6_000
TRANSACTION_TIMEOUT_MS = 10_000


@dataclass
class Journal:
    """What the driver did, when (seconds since the run began)."""

    began: float = field(default_factory=time.monotonic)
    lines: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    def note(self, action: str, detail: str = "") -> None:
        self.counts[action] = self.counts.get(action, 0) + 1
        line = f"[{time.monotonic() - self.began:7.1f}s] {action} {detail}".rstrip()
        self.lines.append(line)
        print(line, flush=True)


class ChaosBroker:
    """A broker that may be crashed (SIGKILL) and brought back on the same data."""

    def __init__(self, journal: Journal) -> None:
        self.spec: BrokerSpec
        self.spec, info = start_broker("chaos")
        self.journal = journal
        self.bootstrap = info.bootstrap

    def crash(self) -> None:
        kill(self.spec)
        self.journal.note("broker-kill")

    def restart(self) -> None:
        info = start(self.spec)
        self.journal.note("broker-start", f"answered in {info.started_in_s:.1f}s")

    def close(self) -> None:
        stop(self.spec)


class Slot:
    """One worker identity; ``proc`` is its current process, if any."""

    def __init__(self, index: int, env: dict[str, str], log_dir: Path) -> None:
        self.index = index
        self.env = env
        self.log_path = log_dir / f"worker-{index}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.paused = False
        self.exits: list[int] = []  # exit codes of processes that died unasked

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


class WorkerPool:
    """Worker slots on one broker; all share the app id (one exchange)."""

    def __init__(self, bootstrap: str, size: int, journal: Journal, **env: str) -> None:
        self.journal = journal
        self.log_dir = Path(tempfile.mkdtemp(prefix="cs-chaos-logs-"))
        shared = worker_env(
            bootstrap,
            CREDITSTREAM_SESSION_TIMEOUT_MS=str(SESSION_TIMEOUT_MS),
            CREDITSTREAM_TRANSACTION_TIMEOUT_MS=str(TRANSACTION_TIMEOUT_MS),
            CREDITSTREAM_PROFILE_SPEND_MATERIAL_RATIO="0",  # every change reaches the feeds
            **env,
        )
        self.slots = [
            Slot(i, worker_env(bootstrap, **{**shared, **_own_identity()}), self.log_dir)
            for i in range(size)
        ]

    def start(self, i: int) -> None:
        slot = self.slots[i]
        assert not slot.alive(), f"worker {i} is already running"
        with open(slot.log_path, "ab") as out:
            slot.proc = subprocess.Popen(
                [sys.executable, "-m", "streams.cli", "worker", "--loglevel", "info"],
                env=slot.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        self.journal.note("worker-start", f"#{i} pid {slot.proc.pid}")

    def crash(self, i: int) -> None:
        """SIGKILL: no goodbye, an open transaction left behind."""
        slot = self.slots[i]
        assert slot.proc is not None
        slot.proc.kill()
        slot.proc.wait(10)
        slot.proc, slot.paused = None, False
        self.journal.note("worker-kill", f"#{i}")

    def pause(self, i: int) -> None:
        """SIGSTOP: the process keeps its sockets and its transaction but goes silent."""
        slot = self.slots[i]
        assert slot.proc is not None
        slot.proc.send_signal(signal.SIGSTOP)
        slot.paused = True
        self.journal.note("worker-pause", f"#{i}")

    def resume(self, i: int) -> None:
        slot = self.slots[i]
        assert slot.proc is not None
        slot.proc.send_signal(signal.SIGCONT)
        slot.paused = False
        self.journal.note("worker-resume", f"#{i}")

    def stop(self, i: int, timeout: float = 60) -> None:
        """SIGTERM (scale down); SIGKILL if it will not stop."""
        slot = self.slots[i]
        if slot.proc is None:
            return
        if slot.paused:
            self.resume(i)
        slot.proc.terminate()
        try:
            code = slot.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            slot.proc.kill()
            code = slot.proc.wait(10)
            self.journal.note("worker-stop-timeout", f"#{i}")
        slot.proc = None
        self.journal.note("worker-stop", f"#{i} exit {code}")

    def running(self) -> list[int]:
        return [s.index for s in self.slots if s.alive() and not s.paused]

    def reap(self) -> list[int]:
        """Slots whose process died without being asked (a crash of our own making
        is not one): recorded in ``Slot.exits`` and returned."""
        died = []
        for s in self.slots:
            code = s.proc.poll() if s.proc is not None else None
            if code is not None:  # crash() and stop() forget the processes they end
                s.exits.append(code)
                s.proc = None
                died.append(s.index)
                self.journal.note("worker-died", f"#{s.index} exit {code}")
        return died

    def logged(self, text: str) -> int:
        """How many lines of all workers' logs contain ``text``."""
        return sum(line.count(text) for s in self.slots for line in s.log().splitlines())

    def close(self) -> None:
        for i in range(len(self.slots)):
            self.stop(i, timeout=30)


def _own_identity() -> dict[str, str]:
    """What makes a slot its own worker: a state dir (whose instance-id file survives
    restarts) and a web port; everything else is the shared exchange's."""
    fresh = worker_env("unused")
    return {k: fresh[k] for k in ("CREDITSTREAM_STATE_DIR", "CREDITSTREAM_WEB_PORT")}


def tail(text: str, lines: int = 60) -> str:
    return "\n".join(text.splitlines()[-lines:])

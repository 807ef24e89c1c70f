"""Run a ``bash`` block of the README as a person would type it, one line at a time.

Each line runs in ``bash`` in a scratch directory that links the checkout's ``.venv``,
``deploy/`` and ``schemas/`` (so ``.venv/bin/creditstream`` and the files it names resolve);
``export``s carry over to later lines. Three things a person does by hand are done the
same way here: a line ending in ``&`` starts in the background; a ``--follow`` command
is watched until what the caller waits for shows, then stopped (Ctrl-C); ``kill %1``
stops the first background command.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.integration.conftest import test_root as scratch_root
from tests.integration.kafka_helpers import free_port
from tests.waiting import NotYet, eventually

ROOT = Path(__file__).resolve().parents[2]
_BACKGROUND = re.compile(r"&\s*(#.*)?$")


def block(heading_text: str, index: int = 0) -> list[str]:
    """The commands (continuations joined) of the ``index``-th ```bash block after the
    first line of README.md containing ``heading_text``."""
    text = (ROOT / "README.md").read_text()
    rest = text[text.index(heading_text) :]
    blocks = re.findall(r"```bash\n(.*?)```", rest, re.S)
    joined = blocks[index].replace("\\\n", " ")
    return [line.strip() for line in joined.splitlines() if line.strip()]


@dataclass
class Session:
    """A person's terminal: cwd, environment and background jobs."""

    cwd: Path
    env: dict[str, str]
    jobs: list[tuple[str, subprocess.Popen[bytes], Path]] = field(default_factory=list)
    transcript: list[str] = field(default_factory=list)

    @classmethod
    def scratch(cls, cwd: Path, **env: str) -> Session:
        for name in (".venv", "deploy", "schemas"):
            (cwd / name).symlink_to(ROOT / name)
        clean = {k: v for k, v in os.environ.items() if not k.startswith("CREDITSTREAM_")}
        return cls(cwd, clean | env)

    def run(self, line: str, timeout: float = 120.0) -> str:
        """A foreground line: its output; raises if it fails. Its exports are kept."""
        envfile = self.cwd / ".env-after"
        proc = subprocess.run(
            ["bash", "-c", f"set -e\n{line}\nenv -0 > {envfile}"],
            check=False,
            cwd=self.cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        out = proc.stdout + proc.stderr
        self.transcript.append(f"$ {line}\n{out}")
        if proc.returncode != 0:
            raise AssertionError(f"README line failed ({proc.returncode}): {line}\n{out}")
        raw = envfile.read_bytes().split(b"\0")
        self.env = dict(e.decode().split("=", 1) for e in raw if b"=" in e)
        return out

    def start(self, line: str) -> subprocess.Popen[bytes]:
        """A background line (``&``, or a ``--follow`` being watched)."""
        command = _BACKGROUND.sub("", line)
        log = self.cwd / f".job-{len(self.jobs)}.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                ["bash", "-c", command],
                cwd=self.cwd,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.jobs.append((line, proc, log))
        return proc

    def output(self, proc: subprocess.Popen[bytes]) -> str:
        return next(log.read_text(errors="replace") for _l, p, log in self.jobs if p is proc)

    def stop(self, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> int:
        """Ctrl-C / kill: SIGINT to its process group, then SIGKILL if it lingers."""
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM if proc is self.jobs[0][1] else signal.SIGINT)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
        return proc.returncode

    def stop_all(self) -> None:
        for _line, proc, _log in self.jobs:
            self.stop(proc)

    def play(
        self,
        lines: list[str],
        wait_for: Callable[[str, str], bool],
        deadline_s: float = 120.0,
    ) -> None:
        """Every line in order. A ``--follow`` line is watched until
        ``wait_for(line, output)`` holds (bounded by ``deadline_s``), then stopped."""
        for line in lines:
            if line.startswith("kill %1"):
                _first, proc, _log = self.jobs[0]
                assert proc.poll() is None, f"the background job had ended:\n{self.output(proc)}"
                self.stop(proc)
            elif _BACKGROUND.search(line):
                self.start(line)
            elif " --follow" in line:
                proc = self.start(line)

                def shown(line: str = line, proc: subprocess.Popen[bytes] = proc) -> bool | NotYet:
                    if wait_for(line, self.output(proc)):
                        return True
                    assert proc.poll() is None, f"{line} ended:\n{self.output(proc)}"
                    return NotYet(f"it printed:\n{self.output(proc)}")

                eventually(shown, what=f"{line} shows it", timeout=deadline_s)
                self.transcript.append(f"$ {line}\n{self.output(proc)}")
                self.stop(proc)
            else:
                self.run(line)


@contextmanager
def terminal(prefix: str, broker_data_dir: str = ".creditstream/broker") -> Iterator[Session]:
    """A scratch terminal whose broker (started by the README's lines) gets free ports;
    afterwards its jobs and that broker are stopped and the transcript is printed."""
    port = free_port()
    cwd = Path(tempfile.mkdtemp(prefix=prefix, dir=scratch_root()))
    session = Session.scratch(
        cwd,
        CREDITSTREAM_BROKER_PORT=str(port),
        CREDITSTREAM_BOOTSTRAP=f"127.0.0.1:{port}",
        CREDITSTREAM_WEB_PORT=str(free_port()),
    )
    try:
        yield session
    finally:
        session.stop_all()
        session.run(f".venv/bin/creditstream broker stop --data-dir {broker_data_dir}")
        print("\n".join(session.transcript))

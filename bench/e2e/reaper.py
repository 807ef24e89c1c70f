"""The benchmark's last resort against leftovers: a detached watcher process.

``Reaper(workdir)`` starts this file as a script (``python reaper.py <parent pid>
<registry>``) in its own session. The watcher sleeps while the benchmark process is its
parent; once it is not (the benchmark died by SIGKILL or a crash, or exited), it reads the
registry, SIGKILLs every registered pid that is still the same process (its start time, in
/proc/<pid>/stat, matches the one registered) and, a second later, deletes every
registered dir. ``Reaper.disarm`` deletes the registry after a clean shutdown, so the
watcher then finds nothing to do.

Standard library only: the watcher runs this file by path, outside the package (with
this folder first on its ``sys.path``).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path


def start_time(pid: int | str) -> str:
    """The process's start time (clock ticks after boot, field 22 of /proc/<pid>/stat):
    with the pid, it names one process, not whichever has that pid later."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]


def watch(parent: int, registry: Path) -> None:
    """Wait until ``parent`` is gone, then kill and delete what ``registry`` lists."""
    while os.getppid() == parent:
        time.sleep(0.5)
    try:
        entries = [line.partition(" ") for line in registry.read_text().splitlines()]
    except OSError:
        return
    for kind, _, rest in entries:
        if kind == "pid":
            pid, start = rest.split()
            try:
                if start_time(pid) == start:
                    os.kill(int(pid), signal.SIGKILL)
            except (OSError, IndexError, ValueError):
                pass
    time.sleep(1)
    for kind, _, rest in entries:
        if kind == "dir":
            shutil.rmtree(rest, ignore_errors=True)


class Reaper:
    """Last resort if this process dies without cleaning up (SIGKILL, a crash): a
    detached watcher SIGKILLs every registered process (still the same process: its
    start time is checked) and deletes every registered dir. ``disarm`` after cleanup."""

    def __init__(self, workdir: Path) -> None:
        self.registry = workdir / "reaper.txt"
        self.add_dir(str(workdir))
        subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), str(os.getpid()), str(self.registry)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def _add(self, line: str) -> None:
        with open(self.registry, "a") as f:
            f.write(line + "\n")

    def add_dir(self, path: str) -> None:
        self._add(f"dir {path}")

    def add_pid(self, pid: int) -> None:
        try:
            start = start_time(pid)
        except (OSError, IndexError):
            return
        self._add(f"pid {pid} {start}")

    def disarm(self) -> None:
        self.registry.unlink(missing_ok=True)


if __name__ == "__main__":
    watch(int(sys.argv[1]), Path(sys.argv[2]))

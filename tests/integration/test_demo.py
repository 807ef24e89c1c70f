"""The README's first command, as a user runs it: data flows, and Ctrl-C leaves nothing."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import signal
import socket
import struct
import subprocess
import sys
import termios
from collections.abc import Callable
from pathlib import Path

from tests.integration.kafka_helpers import free_port
from tests.waiting import NotYet, eventually


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_demo_shows_data_flowing_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    broker_port, web_port = free_port(), free_port()
    env = dict(os.environ) | {
        "CREDITSTREAM_BROKER_PORT": str(broker_port),
        "CREDITSTREAM_WEB_PORT": str(web_port),
    }
    env.pop("CREDITSTREAM_BOOTSTRAP", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "streams.cli", "demo", "--rate", "200"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    seen: list[str] = []

    def shows(what: str, wanted: Callable[[str], bool]) -> Callable[[], bool | NotYet]:
        """A check reading the demo's next line: whether it is ``wanted``."""

        def check() -> bool | NotYet:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            assert line, f"the demo ended before {what}:\n" + "".join(seen[-30:])
            seen.append(line)
            return wanted(line) or NotYet("last lines:\n" + "".join(seen[-30:]))

        return check

    def platform_row(line: str) -> bool:  # data went platform -> ingress -> exchange
        return line.startswith("shopmart") and int(line.split()[1]) > 0

    # The banks' panel: a record of a simulated bank's own feed, read through its SDK
    # (the first answers are acks or "no data yet", then profile updates and alerts).
    feed_kinds = ("NO_DATA_YET", "SUBSCRIPTION_ACK", "PROFILE_UPDATE", "ALERT")

    def feed_row(line: str) -> bool:
        return line.startswith("  ") and any(f"  {k}  " in line for k in feed_kinds)

    try:
        row, panel = "a platform row with events in", "a record of a bank's feed"
        eventually(shows(row, platform_row), what=row, timeout=90, interval=0)
        eventually(shows(panel, feed_row), what=panel, timeout=60, interval=0)
        assert _listening(broker_port)
        proc.send_signal(signal.SIGINT)  # what Ctrl-C sends
        out, _ = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out[-2000:]
    assert "stopped; nothing left running" in out
    assert not _listening(broker_port)
    assert not _listening(web_port)
    # The key the demo made for pseudonymization is private to its user.
    assert (tmp_path / ".creditstream" / "hmac.key").stat().st_mode & 0o077 == 0


class Terminal:
    """The demo on a pseudo-terminal of 160x50, as a person sees it: what it wrote so far,
    and its screens (the live layout redraws from the top left, ``ESC [ H``)."""

    ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")

    def __init__(self, cwd: Path, env: dict[str, str]) -> None:
        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 160, 0, 0))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streams.cli", "demo", "--rate", "200"],
            cwd=cwd, env=env | {"TERM": "xterm-256color"},
            stdin=slave, stdout=slave, stderr=slave, start_new_session=True,
        )  # fmt: skip
        os.close(slave)
        self.raw = b""

    def read(self) -> str:
        """Everything the demo wrote so far (reads what is waiting, never blocks long)."""
        while select.select([self.master], [], [], 0.05)[0]:
            try:
                chunk = os.read(self.master, 1 << 16)
            except OSError:  # the demo closed the terminal
                break
            if not chunk:
                break
            self.raw += chunk
        return self.raw.decode("utf-8", "replace")

    def exited(self) -> bool:
        """Whether the demo ended (reading what it writes meanwhile: a full terminal
        buffer would block it)."""
        self.read()
        return self.proc.poll() is not None

    def screens(self) -> list[str]:
        """The screens drawn so far, without escape sequences (the last may be partial)."""
        return [self.ANSI.sub("", s).replace("\r", "") for s in self.read().split("\x1b[H")[1:]]

    def events_in(self, platform: str) -> list[int]:
        """``platform``'s "events in" on each complete screen that shows it."""
        found = []
        for screen in self.screens()[:-1]:
            for line in screen.splitlines():
                cells = line.strip("│ ").split()
                if cells[:1] == [platform] and len(cells) >= 2 and cells[1].isdigit():
                    found.append(int(cells[1]))
        return found


def test_in_a_terminal_the_demo_redraws_one_screen_and_gives_it_back(tmp_path: Path) -> None:
    broker_port, web_port = free_port(), free_port()
    env = dict(os.environ) | {
        "CREDITSTREAM_BROKER_PORT": str(broker_port),
        "CREDITSTREAM_WEB_PORT": str(web_port),
    }
    env.pop("CREDITSTREAM_BOOTSTRAP", None)
    term = Terminal(tmp_path, env)
    try:

        def grows() -> bool | NotYet:
            counts = [n for n in term.events_in("shopmart") if n > 0]
            return len(set(counts)) >= 2 or NotYet(f"shopmart's events in: {counts[-3:]}")

        # One screen, redrawn in place with new figures (not a growing log)...
        eventually(grows, what="the screen redrawn with more events", timeout=120, interval=0.5)
        last = term.screens()[-2]
        assert "\x1b[?1049h" in term.read()  # the alternate screen: the shell's comes back
        assert f"status page: http://127.0.0.1:{web_port}/status" in last
        assert "platforms" in last and "the exchange" in last, last
        term.proc.send_signal(signal.SIGINT)  # what Ctrl-C sends
        eventually(term.exited, what="the demo exits on Ctrl-C", timeout=90, interval=0.5)
    finally:
        if term.proc.poll() is None:
            term.proc.kill()
        term.proc.wait(30)
    out = term.read()
    assert term.proc.returncode == 0, out[-2000:]
    # ...given back on the way out, and then the shutdown said in plain lines.
    after = out[out.rindex("\x1b[?1049l") :]
    assert "stopped; nothing left running" in after
    assert not _listening(broker_port)
    assert not _listening(web_port)

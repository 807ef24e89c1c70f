"""The README's first command, as a user runs it: data flows, and Ctrl-C leaves nothing."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
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

"""The README's first command, as a user runs it: data flows, and Ctrl-C leaves nothing."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.integration.kafka_helpers import free_port


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
    try:
        deadline = time.monotonic() + 90
        seen: list[str] = []
        assert proc.stdout is not None
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            seen.append(line)
            # A platform row with events in: data went platform -> ingress -> exchange.
            if line.startswith("shopmart") and int(line.split()[1]) > 0:
                break
        assert any(line.startswith("shopmart") and int(line.split()[1]) > 0 for line in seen), (
            "".join(seen[-30:])
        )
        # The banks' panel: a record of a simulated bank's own feed, read through its SDK
        # (the first answers are acks or "no data yet", then profile updates and alerts).
        feed_kinds = ("NO_DATA_YET", "SUBSCRIPTION_ACK", "PROFILE_UPDATE", "ALERT")
        while time.monotonic() < deadline + 60:
            line = proc.stdout.readline()
            if not line:
                break
            seen.append(line)
            if line.startswith("  ") and any(f"  {k}  " in line for k in feed_kinds):
                break
        assert any(
            line.startswith("  ") and any(f"  {k}  " in line for k in feed_kinds) for line in seen
        ), "".join(seen[-30:])
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

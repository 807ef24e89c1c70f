"""The demo's local processes and files: its key, its workers, their ports and logs.

Contract: everything the demo writes stays under :data:`HOME` (``.creditstream``):
:func:`key_file` creates the pseudonymization key once (32 random bytes as hex, mode
0600); :func:`start_workers` starts one ``creditstream worker`` per web port, each in
its own session (Ctrl-C reaches only the demo) with its own state directory and log
file; :func:`stop_workers` stops them with SIGTERM, then kills what has not exited
within 30 s. :func:`free_ports` finds ports nothing listens on.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
from pathlib import Path

HOME = Path(".creditstream")


def key_file() -> Path:
    """The demo's HMAC key (32 random bytes as hex), created once, readable only by you."""
    path = HOME / "hmac.key"
    if not path.exists():
        HOME.mkdir(exist_ok=True)
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path


def free_ports(first: int, count: int) -> list[int]:
    """``count`` ports from ``first`` upwards that nothing listens on (web endpoints)."""
    ports: list[int] = []
    port = first
    while len(ports) < count and port < 65535:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) != 0:
                ports.append(port)
        port += 1
    return ports


def start_workers(ports: list[int], bootstrap: str) -> list[subprocess.Popen[bytes]]:
    logs = HOME / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    procs = []
    for n, port in enumerate(ports):
        env = dict(os.environ) | {
            "CREDITSTREAM_BOOTSTRAP": bootstrap,
            "CREDITSTREAM_HMAC_KEY_FILE": str(key_file().resolve()),
            "CREDITSTREAM_STATE_DIR": str((HOME / "state" / f"worker-{n}").resolve()),
            "CREDITSTREAM_WEB_PORT": str(port),
        }
        with open(logs / f"worker-{n}.log", "ab") as out:
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "streams.cli", "worker"],
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,  # Ctrl-C goes to the demo, which stops them in order
                )
            )
    return procs


def stop_workers(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(10)

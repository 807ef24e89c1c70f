"""The local broker's data directory: which dirs are ours, its state file, its secret.

Layout: ``broker.json`` (pid, ports, mode, version of the running broker), ``config/``
(generated), ``logs/`` (Kafka's log dirs), ``server.log`` and, in secure mode,
``admin.secret``, ``controller.secret`` and ``broker.secret`` (one password per
identity, ``streams.localkafka.properties``: mode 0600, created on first start),
``tls.secret`` and ``tls/`` (the CA and the broker's keystore, ``streams.localkafka.tls``). The
dir itself is 0700 and the broker writes its files 0600 (``process.start`` runs it
under umask 077): the ingest topics hold raw national IDs.

A data dir is *ours* when it holds the marker file :data:`MARKER`, written by
:func:`claim_data_dir` when it creates (or adopts an empty) data dir, before anything
else goes in. Only such a dir is ever deleted by :func:`~streams.localkafka.process.wipe`,
and :func:`~streams.localkafka.process.start` refuses a non-empty dir without it, so a
mistyped ``--data-dir`` can neither be wiped nor get marked. Data dirs made before the
marker existed are recognised by the ``config/server.properties`` creditstream
generated, whose ``log.dirs`` names the dir's own ``logs/``; they get the marker on
their next start.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from streams.errors import BrokerError
from streams.localkafka.spec import BrokerSpec

#: Marker file of a broker data dir made by creditstream (what ``wipe`` requires).
MARKER = ".creditstream-broker"
_MARKER_TEXT = (
    "A local Kafka broker's data dir, made by creditstream. "
    "`creditstream broker wipe --data-dir <this dir>` deletes it.\n"
)


def _state_file_at(data_dir: Path) -> Path:
    return data_dir / "broker.json"


def state_file(spec: BrokerSpec) -> Path:
    """``broker.json``: what :func:`~streams.localkafka.process.start` last started here."""
    return _state_file_at(spec.data_dir)


def read_state(spec: BrokerSpec) -> dict[str, object] | None:
    """The state file's content, None when there is none (or it is not JSON)."""
    try:
        data: dict[str, object] = json.loads(state_file(spec).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return data


def _made_before_marker(data_dir: Path) -> bool:
    """A data dir laid out by an older creditstream: its generated server.properties
    names its own ``logs/`` as Kafka's log dir, and it was formatted or started."""
    config = data_dir / "config" / "server.properties"
    try:
        text = config.read_text(errors="replace")
    except OSError:
        return False
    props = dict(line.partition("=")[::2] for line in text.splitlines() if "=" in line)
    log_dirs = props.get("log.dirs", "")
    made_here = bool(log_dirs) and Path(log_dirs).resolve() == (data_dir / "logs").resolve()
    used = (data_dir / "logs" / "meta.properties").is_file() or _state_file_at(data_dir).is_file()
    return made_here and props.get("process.roles") == "broker,controller" and used


def is_data_dir(data_dir: Path) -> bool:
    """True when ``data_dir`` is a broker data dir made by creditstream (marker or the
    layout of a version before the marker)."""
    return (data_dir / MARKER).is_file() or _made_before_marker(data_dir)


def claim_data_dir(data_dir: Path) -> None:
    """Create ``data_dir`` as a broker data dir (marker first), or accept one already ours.

    An existing empty directory is adopted; anything else that is not ours is refused
    (``BrokerError``), so the broker never writes into, nor marks, someone's folder.
    """
    marker = data_dir / MARKER
    if marker.is_file():
        return
    if data_dir.exists():
        if not data_dir.is_dir():
            raise BrokerError(f"broker data dir {data_dir} is not a directory")
        if any(data_dir.iterdir()) and not _made_before_marker(data_dir):
            raise BrokerError(
                f"{data_dir} is not empty and is not a creditstream broker data dir: "
                "choose another --data-dir"
            )
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    data_dir.chmod(0o700)  # an older release made it 0755
    marker.write_text(_MARKER_TEXT)


def _secret(spec: BrokerSpec, name: str) -> str:
    path = spec.data_dir / f"{name}.secret"
    if not path.exists():
        claim_data_dir(spec.data_dir)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(24))
    return path.read_text().strip()


def admin_password(spec: BrokerSpec) -> str:
    """The secure-mode admin password, created once per data directory."""
    return _secret(spec, "admin")


def controller_password(spec: BrokerSpec) -> str:
    """The password of the broker's own controller identity (secure mode)."""
    return _secret(spec, "controller")


def broker_password(spec: BrokerSpec) -> str:
    """The password of the broker's inter-broker identity (secure mode)."""
    return _secret(spec, "broker")


def tls_password_file(spec: BrokerSpec) -> Path:
    """The file holding the password of the broker's TLS keystore (secure mode)."""
    _secret(spec, "tls")
    return spec.data_dir / "tls.secret"

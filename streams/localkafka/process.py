"""Start, watch and stop the local KRaft broker process, and wipe its data dir.

Contract: :func:`start` installs Kafka if needed, writes the config, formats the
storage once and starts the broker in the background, then waits until it answers
(idempotent: a broker already running from the data dir is reported, not restarted).
:func:`status` reports the running broker of a data dir from its state file (a stale
one, whose process is gone, counts as none); :func:`stop` asks it to stop (SIGTERM,
then SIGKILL), :func:`kill` crashes it for chaos tests, :func:`wipe` deletes a stopped
broker's data dir, and only one that is ours (see :mod:`streams.localkafka.datadir`).
:func:`client_config` is how an admin client reaches the broker. Failures raise
``BrokerError`` with one clear line first.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from base64 import urlsafe_b64encode
from pathlib import Path

from streams.errors import BrokerError
from streams.localkafka.datadir import (
    MARKER,
    admin_password,
    broker_password,
    claim_data_dir,
    controller_password,
    is_data_dir,
    read_state,
    state_file,
    tls_password_file,
)
from streams.localkafka.install import deploy_file, install
from streams.localkafka.properties import ADMIN_USER, BROKER_USER, render, server_properties
from streams.localkafka.spec import BrokerInfo, BrokerSpec
from streams.localkafka.tls import TlsFiles, ensure_tls, tls_files
from streams.settings import KafkaConf

START_TIMEOUT_S = 90.0
#: Files the broker (and start) create: 0600, dirs 0700 (the ingest topics hold raw
#: national IDs: no other local user may read them around the ACLs).
PRIVATE_UMASK = 0o077
STOP_TIMEOUT_S = 30.0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of this process still answers kill(0); reap it if it is ours.
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return done == 0


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def tls_of(spec: BrokerSpec) -> TlsFiles:
    """Where the secure broker of ``spec`` keeps its CA and keystore (see ``tls``)."""
    return tls_files(spec.data_dir, tls_password_file(spec))


def client_config(spec: BrokerSpec) -> KafkaConf:
    """librdkafka settings for an admin client of this broker."""
    conf: KafkaConf = {"bootstrap.servers": spec.bootstrap}
    if spec.mode == "secure":
        conf |= {
            "security.protocol": "SASL_SSL",
            "ssl.ca.location": str(tls_of(spec).ca),
            "sasl.mechanism": "SCRAM-SHA-512",
            "sasl.username": ADMIN_USER,
            "sasl.password": admin_password(spec),
        }
    return conf


def admin_command_config(spec: BrokerSpec) -> Path:
    """``config/admin-client.properties`` (0600): Kafka's own tools (``--command-config``)
    logging in to the secure broker as its admin over TLS. The password is in the file,
    never on the tool's command line."""
    path = spec.data_dir / "config" / "admin-client.properties"
    scram = "org.apache.kafka.common.security.scram.ScramLoginModule"
    login = f'{scram} required username="{ADMIN_USER}" password="{admin_password(spec)}";'
    text = render(
        {
            "security.protocol": "SASL_SSL",
            "sasl.mechanism": "SCRAM-SHA-512",
            "sasl.jaas.config": login,
            "ssl.truststore.type": "PEM",
            "ssl.truststore.location": str(tls_of(spec).ca),
        }
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    return path


def _ensure_admin(spec: BrokerSpec) -> bool:
    """Set the admin's SCRAM credential to ``admin.secret``'s password, logged in as the
    broker's own identity (PLAIN); False while the broker does not answer yet."""
    from confluent_kafka.admin import (  # type: ignore[attr-defined]  # heavy, only here
        AdminClient,
        ScramCredentialInfo,
        ScramMechanism,
        UserScramCredentialUpsertion,
    )

    conf: KafkaConf = {
        "bootstrap.servers": spec.bootstrap,
        "security.protocol": "SASL_SSL",
        "ssl.ca.location": str(tls_of(spec).ca),
        "sasl.mechanism": "PLAIN",
        "sasl.username": BROKER_USER,
        "sasl.password": broker_password(spec),
        "log_level": 0,
    }
    upsert = UserScramCredentialUpsertion(
        ADMIN_USER,
        ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192),
        admin_password(spec).encode(),
    )
    client = AdminClient(conf)  # kept until the answer: a dropped client aborts its calls
    try:
        futures = client.alter_user_scram_credentials([upsert], request_timeout=5)
        futures[ADMIN_USER].result(timeout=5)
    except Exception:  # KafkaException of any kind means "not answering yet"
        return False
    return True


def answers_metadata(spec: BrokerSpec, timeout: float = 2.0) -> bool:
    """True when the broker answers a metadata request within ``timeout``."""
    from confluent_kafka.admin import AdminClient  # heavy import, only when needed

    admin = AdminClient(client_config(spec) | {"log_level": 0})
    try:
        admin.list_topics(timeout=timeout)
    except Exception:  # KafkaException of any kind means "not answering yet"
        return False
    return True


def _java_cmd(spec: BrokerSpec, libs: Path, main: str, *args: str) -> list[str]:
    java = shutil.which("java")
    if java is None:
        raise BrokerError("java is not on PATH: Kafka needs Java 17 or newer")
    return [
        java,
        f"-Xmx{spec.heap}",
        "-XX:+UseG1GC",
        "-Djava.awt.headless=true",
        f"-Dkafka.logs.dir={spec.data_dir}",
        f"-Dlog4j2.configurationFile={deploy_file('log4j2.properties')}",
        "-cp",
        f"{libs}/*",
        main,
        *args,
    ]


def _cluster_id() -> str:
    """A random KRaft cluster id. Like Kafka's own ``Uuid.randomUuid``, never one that
    starts with '-': the storage tool would read it as an option and refuse to format."""
    while True:
        cid = urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cid.startswith("-"):
            return cid


def _format(spec: BrokerSpec, libs: Path, config: Path) -> None:
    """Format the KRaft storage once; a formatted data dir keeps its data on restart."""
    if (spec.data_dir / "logs" / "meta.properties").exists():
        return
    cluster_id = _cluster_id()
    # No --add-scram: a password there would be on the command line (``ps``); the
    # admin's credential is created through the admin API once the broker runs.
    args = ["format", "-t", cluster_id, "-c", str(config)]
    proc = subprocess.run(
        _java_cmd(spec, libs, "kafka.tools.StorageTool", *args),
        umask=PRIVATE_UMASK,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise BrokerError(f"formatting {spec.data_dir} failed: {proc.stdout}{proc.stderr}".strip())


def _log_tail(spec: BrokerSpec, lines: int = 20) -> str:
    log = spec.data_dir / "server.log"
    if not log.exists():
        return "(no server.log)"
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def start(spec: BrokerSpec) -> BrokerInfo:
    """Install if needed, configure, format once, start in the background, wait for it.

    Idempotent: a broker already running from this data dir is reported, not restarted.
    Raises ``BrokerError`` (one clear line first) when a port is taken or it won't start.
    """
    began = time.monotonic()
    running = status(spec)
    if running is not None:
        return running
    for port in (spec.port, spec.ctrl_port):
        if not _port_free(port):
            raise BrokerError(f"port {port} on 127.0.0.1 is in use; choose another with --port")
    old = os.umask(PRIVATE_UMASK)
    try:
        claim_data_dir(spec.data_dir)  # before the download: a wrong --data-dir fails fast
        return _start(spec, began)
    finally:
        os.umask(old)


def _start(spec: BrokerSpec, began: float) -> BrokerInfo:
    spec.data_dir.chmod(0o700)  # raw national IDs live here: no other local user reads it
    libs = install(spec.cache_dir, spec.version)
    config = spec.data_dir / "config" / "server.properties"
    config.parent.mkdir(parents=True, exist_ok=True)
    secure = spec.mode == "secure"
    tls = ensure_tls(tls_of(spec)) if secure else None
    props = server_properties(
        port=spec.port,
        controller_port=spec.ctrl_port,
        log_dir=spec.data_dir / "logs",
        mode=spec.mode,
        controller_password=controller_password(spec) if secure else "",
        broker_password=broker_password(spec) if secure else "",
        keystore=tls.keystore if tls else None,
        keystore_password=tls.password() if tls else "",
        ca_file=tls.ca if tls else None,
    )
    config.write_text(render(props))
    config.chmod(0o600)  # secure mode's JAAS lines and keystore password are secrets
    _format(spec, libs, config)
    with open(spec.data_dir / "stdout.log", "ab") as out:
        proc = subprocess.Popen(
            _java_cmd(spec, libs, "kafka.Kafka", str(config)),
            umask=PRIVATE_UMASK,  # segments 0600, dirs 0700
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # survives the CLI that started it, not its Ctrl-C
        )
    state = {"pid": proc.pid, "mode": spec.mode, "version": spec.version} | {
        "port": spec.port,
        "controller_port": spec.ctrl_port,
    }
    state_file(spec).write_text(json.dumps(state))
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BrokerError(f"Kafka exited with code {proc.returncode}:\n{_log_tail(spec)}")
        if (not secure or _ensure_admin(spec)) and answers_metadata(spec, timeout=1.0):
            return _info(spec, proc.pid, time.monotonic() - began)
        time.sleep(0.2)
    kill(spec)
    raise BrokerError(f"Kafka did not answer within {START_TIMEOUT_S:.0f}s:\n{_log_tail(spec)}")


def _info(spec: BrokerSpec, pid: int, took: float = 0.0) -> BrokerInfo:
    return BrokerInfo(spec.bootstrap, spec.version, pid, spec.mode, str(spec.data_dir), took)


def status(spec: BrokerSpec) -> BrokerInfo | None:
    """The running broker of this data dir, or None (a stale state file is ignored)."""
    state = read_state(spec)
    if state is None or not _alive(int(str(state["pid"]))):
        return None
    pid = int(str(state["pid"]))
    actual = BrokerSpec(
        data_dir=spec.data_dir,
        cache_dir=spec.cache_dir,
        version=str(state["version"]),
        port=int(str(state["port"])),
        controller_port=int(str(state["controller_port"])),
        mode="secure" if state["mode"] == "secure" else "plain",
    )
    return _info(actual, pid)


def _signal_and_wait(pid: int, sig: signal.Signals, timeout: float) -> bool:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return True
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.1)
    return not _alive(pid)


def stop(spec: BrokerSpec, timeout: float = STOP_TIMEOUT_S) -> bool:
    """Stop cleanly (SIGTERM), SIGKILL if it will not; False if nothing was running."""
    info = status(spec)
    if info is None:
        return False
    if not _signal_and_wait(info.pid, signal.SIGTERM, timeout):
        _signal_and_wait(info.pid, signal.SIGKILL, 10.0)
    state_file(spec).unlink(missing_ok=True)
    return True


def kill(spec: BrokerSpec) -> bool:
    """SIGKILL the broker (crash it, for chaos tests); its data stays."""
    info = status(spec)
    if info is None:
        return False
    _signal_and_wait(info.pid, signal.SIGKILL, 10.0)
    return True


def wipe(spec: BrokerSpec) -> bool:
    """Delete the data dir; False when there is nothing to delete (absent or empty).

    Raises ``BrokerError`` (and deletes nothing) when the dir is not a broker data dir
    made by creditstream (see :func:`is_data_dir`) or its broker is running. The marker
    goes last, so a wipe that fails half-way can be repeated.
    """
    data_dir = spec.data_dir
    if data_dir.is_symlink():
        raise BrokerError(f"{data_dir} is a symbolic link: not wiped; name the dir itself")
    if not data_dir.exists():
        return False
    if not data_dir.is_dir():
        raise BrokerError(f"{data_dir} is not a directory: not wiped")
    if not is_data_dir(data_dir):
        if not any(data_dir.iterdir()):
            return False
        raise BrokerError(
            f"{data_dir} is not a creditstream broker data dir (no {MARKER} file): "
            "not wiped; delete it by hand if you are sure"
        )
    if status(spec) is not None:
        raise BrokerError(
            f"the broker in {data_dir} is running: stop it first "
            f"(creditstream broker stop --data-dir {data_dir})"
        )
    try:
        for child in sorted(data_dir.iterdir()):
            if child.name == MARKER:
                continue
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
        shutil.rmtree(data_dir)
    except OSError as exc:
        raise BrokerError(f"could not wipe {data_dir}: {exc}") from exc
    return True

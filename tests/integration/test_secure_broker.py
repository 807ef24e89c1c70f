"""The secure mode: TLS (SASL_SSL) with the data dir's own CA, SASL/SCRAM-SHA-512,
StandardAuthorizer, deny without an ACL."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from streams.localkafka import start, stop
from streams.localkafka.datadir import (
    admin_password,
    broker_password,
    controller_password,
    tls_password_file,
)
from streams.localkafka.process import client_config, tls_of
from streams.settings import KafkaConf
from tests.integration.conftest import broker_spec


def _as(conf: KafkaConf, user: str, password: str) -> KafkaConf:
    return conf | {"sasl.username": user, "sasl.password": password}


def test_secure_mode_authenticates_and_authorizes() -> None:
    spec = broker_spec("secure", mode="secure")
    try:
        info = start(spec)
        assert info.mode == "secure"
        admin_conf = client_config(spec)
        assert admin_conf["security.protocol"] == "SASL_SSL"
        admin = AdminClient(admin_conf)
        futures = admin.create_topics([NewTopic("guarded", 1, 1)])
        futures["guarded"].result(timeout=30)
        assert "guarded" in admin.list_topics(timeout=10).topics

        # A wrong password never gets in.
        intruder = AdminClient(_as(admin_conf, "admin", "wrong") | {"log_level": 0})
        with pytest.raises(KafkaException):
            intruder.list_topics(timeout=5)

        # A user with valid credentials but no ACL may not write (allow.everyone=false).
        admin.alter_user_scram_credentials([_upsert("nobody", "s3cret-nobody")])["nobody"].result(
            timeout=30
        )
        producer = Producer(
            _as(admin_conf, "nobody", "s3cret-nobody")
            | {"acks": "all", "message.timeout.ms": 10000, "log_level": 0}
        )
        errors: list[str] = []
        producer.produce(
            "guarded", b"x", on_delivery=lambda err, _m: errors.append(err.name() if err else "ok")
        )
        producer.flush(20)
        assert errors == ["TOPIC_AUTHORIZATION_FAILED"]
        assert admin_password(spec) not in (spec.data_dir / "server.log").read_text()
    finally:
        stop(spec)


def test_a_secure_start_puts_no_secret_on_a_command_line_and_keeps_files_private() -> None:
    """Polls every process's command line while a fresh secure broker is formatted and
    started (the format step used to carry the admin password), then checks the modes
    of everything in the data dir."""
    spec = broker_spec("secure-quiet", mode="secure")
    seen: set[str] = set()
    done = threading.Event()

    def poll() -> None:
        while not done.is_set():
            for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
                try:
                    seen.add(cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace"))
                except OSError:
                    continue  # the process ended meanwhile
            time.sleep(0.01)

    watcher = threading.Thread(target=poll, daemon=True)
    watcher.start()
    try:
        start(spec)
        done.set()
        watcher.join()
        assert any("StorageTool" in c for c in seen), "the format step was not observed"
        assert any("keytool" in c and "-gencert" in c for c in seen), "no certificate signed"
        keystore = tls_password_file(spec).read_text().strip()
        secrets = [admin_password(spec), controller_password(spec), broker_password(spec)]
        secrets.append(keystore)
        assert len(set(secrets)) == 4  # one password per identity, one for the keystore
        for secret in secrets:
            assert not any(secret in c for c in seen)
        root = spec.data_dir
        modes = {str(p): _mode(p) for p in [root, *root.rglob("*")]}
        loose = {p: oct(m) for p, m in modes.items() if m & 0o077}
        assert not loose, loose
        assert any(p.suffix == ".log" for p in (root / "logs").rglob("*"))  # segments exist
        assert tls_of(spec).ca.is_file() and tls_of(spec).keystore.is_file()
    finally:
        done.set()
        stop(spec)


def _mode(path: Path) -> int:
    """Permission bits of ``path``; 0 when the broker removed it meanwhile (a rolled index)."""
    try:
        return path.stat().st_mode & 0o777
    except FileNotFoundError:
        return 0


def _upsert(user: str, password: str) -> object:
    from confluent_kafka.admin import (
        ScramCredentialInfo,
        ScramMechanism,
        UserScramCredentialUpsertion,
    )

    return UserScramCredentialUpsertion(
        user, ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192), password.encode()
    )


def test_the_secure_listener_speaks_only_tls_with_a_certificate_its_ca_signed() -> None:
    """What reaches the secure broker's port without TLS or without trusting its CA gets
    no answer; the admin over TLS does. The CA outlives a restart (clients keep their trust)."""
    spec = broker_spec("secure-tls", mode="secure")
    try:
        start(spec)
        good = client_config(spec) | {"log_level": 0}
        assert AdminClient(good).list_topics(timeout=20).topics is not None
        ca = tls_of(spec).ca.read_bytes()
        refused = {
            "SASL_PLAINTEXT": good | {"security.protocol": "SASL_PLAINTEXT"},
            "PLAINTEXT": {"bootstrap.servers": spec.bootstrap, "log_level": 0},
            "untrusted CA": {k: v for k, v in good.items() if k != "ssl.ca.location"},
        }
        for why, conf in refused.items():
            with pytest.raises(KafkaException) as err:
                AdminClient(conf).list_topics(timeout=4)
            assert err.value.args[0].name() == "_TRANSPORT", why
        # Kafka's own tools log in as the admin over TLS from a private properties file.
        cli = [sys.executable, "-m", "streams.cli", "broker", "hanging"]
        found = subprocess.run(
            [*cli, "--data-dir", str(spec.data_dir)],
            check=False,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert (found.returncode, found.stdout) == (0, "no hanging transaction\n"), found.stderr
        properties = spec.data_dir / "config" / "admin-client.properties"
        assert properties.stat().st_mode & 0o777 == 0o600
        stop(spec)
        start(spec)
        assert tls_of(spec).ca.read_bytes() == ca
        assert AdminClient(good).list_topics(timeout=20).topics is not None
    finally:
        stop(spec)

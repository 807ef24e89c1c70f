"""The secure broker's TLS material: a private CA and a broker certificate, made once per
data dir with Java's ``keytool`` (it comes with the Java Kafka needs: nothing downloaded).

Contract: :func:`ensure_tls` leaves in ``<data-dir>/tls/`` (0700, files 0600):

- ``ca.crt``: the CA certificate (PEM), the file clients trust
  (``CREDITSTREAM_SSL_CA_FILE``, librdkafka's ``ssl.ca.location``); the broker trusts it
  too for its own connections to itself;
- ``broker.p12``: the broker's key and certificate chain (PKCS12), the certificate
  signed by the CA for ``127.0.0.1`` and ``localhost`` (subject alternative names, so
  clients verify the host name as librdkafka does by default), valid 825 days;
- ``ca.p12``: the CA's key, kept only to sign the broker's certificate.

The keystore password is ``tls.secret`` beside the other secrets of the data dir; keytool
reads it from that file (``-storepass:file``), so it is on no command line. Idempotent:
the set is made in ``tls.partial/`` and renamed to ``tls/`` when complete, so ``tls/``
is always whole and an interrupted first start makes it again.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from streams.errors import BrokerError

TLS_DIR = "tls"
CA_FILE = "ca.crt"
KEYSTORE = "broker.p12"
_CA_STORE = "ca.p12"
#: Names the broker's certificate is valid for: clients bootstrap at 127.0.0.1.
SUBJECT_ALT_NAMES = "ip:127.0.0.1,dns:localhost"
_KEY = ("-keyalg", "EC", "-groupname", "secp256r1")


@dataclass(frozen=True)
class TlsFiles:
    """Where one data dir's TLS material is."""

    ca: Path
    keystore: Path
    password_file: Path

    def password(self) -> str:
        return self.password_file.read_text().strip()


def tls_files(data_dir: Path, password_file: Path) -> TlsFiles:
    """The paths :func:`ensure_tls` writes under ``data_dir`` (nothing is checked)."""
    tls = data_dir / TLS_DIR
    return TlsFiles(tls / CA_FILE, tls / KEYSTORE, password_file)


def _keytool() -> str:
    java = shutil.which("java")
    beside = Path(java).resolve().parent / "keytool" if java else None
    found = str(beside) if beside and beside.exists() else shutil.which("keytool")
    if found is None:
        raise BrokerError("keytool (part of Java 17+) is not on PATH: the secure broker needs it")
    return found


def ensure_tls(files: TlsFiles) -> TlsFiles:
    """Make the CA, the broker's key and its signed certificate unless all are there."""
    if files.ca.parent.is_dir():
        return files
    tls = files.ca.parent.with_name(TLS_DIR + ".partial")
    if tls.exists():
        shutil.rmtree(tls)  # from an interrupted start: make it again
    tls.mkdir(mode=0o700, parents=True)
    keytool = _keytool()
    pw = str(files.password_file)

    def run(*args: str) -> None:
        proc = subprocess.run(
            [keytool, *args], cwd=tls, umask=0o077, capture_output=True, text=True, check=False
        )
        if proc.returncode != 0:
            what = (proc.stdout + proc.stderr).strip().splitlines()
            raise BrokerError(f"keytool {args[0]} failed: {what[-1] if what else proc.returncode}")

    ca = ("-keystore", _CA_STORE, "-storetype", "PKCS12", "-storepass:file", pw)
    broker = ("-keystore", KEYSTORE, "-storetype", "PKCS12", "-storepass:file", pw)
    run("-genkeypair", "-alias", "ca", *_KEY, "-dname", "CN=creditstream local CA",
        "-ext", "bc:c", "-validity", "3650", *ca, "-keypass:file", pw)  # fmt: skip
    run("-exportcert", "-rfc", "-alias", "ca", *ca, "-file", CA_FILE)
    run("-genkeypair", "-alias", "broker", *_KEY, "-dname", "CN=localhost",
        "-validity", "825", *broker, "-keypass:file", pw)  # fmt: skip
    run("-certreq", "-alias", "broker", *broker, "-file", "broker.csr")
    run("-gencert", "-alias", "ca", *ca, "-infile", "broker.csr", "-outfile", "broker.crt",
        "-rfc", "-validity", "825", "-ext", f"san={SUBJECT_ALT_NAMES}",
        "-ext", "ku:c=digitalSignature,keyEncipherment", "-ext", "eku=serverAuth")  # fmt: skip
    run("-importcert", "-alias", "ca", "-file", CA_FILE, "-noprompt", *broker)
    run("-importcert", "-alias", "broker", "-file", "broker.crt", *broker)
    for leftover in ("broker.csr", "broker.crt"):
        (tls / leftover).unlink()
    tls.rename(files.ca.parent)
    return files

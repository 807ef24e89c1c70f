"""Fetch Apache Kafka's broker jars from Maven Central into a cache outside the repo.

The cache is ``<cache_dir>/kafka-<version>/libs``; a ``.complete`` marker is written
last, so an interrupted download is redone and a finished one makes later runs offline.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from streams.errors import BrokerError

#: deploy/local in the source tree: the pom and the logging config live there.
DEPLOY_LOCAL = Path(__file__).resolve().parents[2] / "deploy" / "local"


def deploy_file(name: str) -> Path:
    """Path of a file shipped in ``deploy/local``; a clear error if the tree is incomplete."""
    path = DEPLOY_LOCAL / name
    if not path.is_file():
        raise BrokerError(f"{path} is missing: run creditstream from its source checkout")
    return path


def libs_dir(cache_dir: Path, version: str) -> Path:
    """Where the jars of one Kafka version are (or will be) cached."""
    return cache_dir / f"kafka-{version}" / "libs"


def is_installed(cache_dir: Path, version: str) -> bool:
    """True when a complete download of ``version`` is cached (with the tools jar, which
    caches made before it was added lack: those are downloaded again)."""
    libs = libs_dir(cache_dir, version)
    return (libs / ".complete").is_file() and any(libs.glob("kafka-tools-[0-9]*.jar"))


def install(cache_dir: Path, version: str) -> Path:
    """Make sure the jars of ``version`` are cached; return the libs directory.

    Raises ``BrokerError`` with Maven's last lines when the download fails.
    """
    libs = libs_dir(cache_dir, version)
    if is_installed(cache_dir, version):
        return libs
    mvn = shutil.which("mvn")
    if mvn is None:
        raise BrokerError("Maven (mvn) is not on PATH: install it, Kafka's jars come through it")
    if libs.exists():
        shutil.rmtree(libs)  # a partial download from an interrupted run
    libs.mkdir(parents=True)
    cmd = [
        mvn,
        "-q",
        "-B",
        "-f",
        str(deploy_file("pom.xml")),
        f"-Dkafka.version={version}",
        "dependency:copy-dependencies",
        "-DincludeScope=runtime",
        f"-DoutputDirectory={libs}",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    jars = list(libs.glob("kafka_2.13-*.jar"))
    if proc.returncode != 0 or not jars:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise BrokerError(f"downloading Kafka {version} with Maven failed:\n{tail}")
    (libs / ".complete").write_text(version + "\n")
    return libs

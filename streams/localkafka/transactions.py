"""Hanging transactions: found and aborted with Kafka's own ``TransactionsCommand``.

A transaction hangs when a partition holds records of a transaction its coordinator no
longer knows (KAFKA-12671): a producer's request reached the partition after the
coordinator had ended the transaction. librdkafka does not implement KIP-890's
server-side defence (confluentinc/librdkafka#5423), and this broker, killed and
restarted while a worker is killed around it, leaves one now and then (the chaos
run). Nothing ends it: the partition's last stable offset stops there, read_committed
readers see nothing after it, and offsets the transaction committed stay pending, so
the stage that owns them stops. The operator's fix is Kafka's ``kafka-transactions.sh
find-hanging`` then ``abort``; this module runs the same command class from the jars
the project installs (``install``), for the operator and the chaos run; against the
secure broker with ``command_config``, a client properties file logging in as its admin
(``streams.localkafka.process.admin_command_config``).
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from streams.errors import BrokerError

COMMAND = "org.apache.kafka.tools.TransactionsCommand"


@dataclass(frozen=True)
class Hanging:
    """One hanging transaction: where it starts and whose it is."""

    topic: str
    partition: int
    producer_id: int
    producer_epoch: int
    start_offset: int

    def __str__(self) -> str:
        return (
            f"{self.topic}[{self.partition}] from offset {self.start_offset} "
            f"(producer {self.producer_id}, epoch {self.producer_epoch})"
        )


def _run(
    libs: Path, bootstrap: str, *args: str, config: Path | None = None, timeout: float = 120
) -> str:
    java = shutil.which("java")
    if java is None:
        raise BrokerError("java is not on PATH: Kafka's transactions command needs Java 17+")
    cmd = [java, "-Xmx256m", "-cp", f"{libs}/*", COMMAND, "--bootstrap-server", bootstrap]
    if config is not None:
        cmd += ["--command-config", str(config)]
    done = subprocess.run(
        [*cmd, *args], check=False, capture_output=True, text=True, timeout=timeout
    )
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-5:])
        raise BrokerError(f"kafka transactions {args[0]} failed: {tail}")
    return done.stdout


def find_hanging(
    libs: Path,
    bootstrap: str,
    broker_id: int = 1,
    minutes: int = 1,
    command_config: Path | None = None,
) -> list[Hanging]:
    """Transactions on ``broker_id``'s partitions open for more than ``minutes`` whose
    coordinator does not know them (or knows them ended)."""
    out = _run(
        libs,
        bootstrap,
        "find-hanging",
        "--broker-id",
        str(broker_id),
        "--max-transaction-timeout",
        str(minutes),
        config=command_config,
    )
    return parse_hanging(out)


def parse_hanging(out: str) -> list[Hanging]:
    """The rows of ``find-hanging``'s table (a header, then one row per transaction:
    topic, partition, producer id, producer epoch, coordinator epoch, start offset, ...)."""
    found = []
    for line in out.splitlines():
        cols = line.split()
        if len(cols) >= 6 and all(c.lstrip("-").isdigit() for c in cols[1:6]):
            topic, part, pid, epoch, _coordinator_epoch, start = cols[:6]
            found.append(Hanging(topic, int(part), int(pid), int(epoch), int(start)))
    return found


#: What ``abort`` answers when no transaction is open at the offset any more.
ALREADY_ENDED = "Could not find any open transactions starting at offset"


def abort_hanging(
    libs: Path, bootstrap: str, hanging: Hanging, command_config: Path | None = None
) -> bool:
    """Write the abort marker that ends ``hanging`` (its records are never read); False
    when it had ended meanwhile (``find-hanging`` also lists a transaction whose
    coordinator ended it while its markers were still on their way: seen in a chaos
    run between the two commands), which is what the abort was for."""
    try:
        _run(
            libs,
            bootstrap,
            "abort",
            "--topic",
            hanging.topic,
            "--partition",
            str(hanging.partition),
            "--start-offset",
            str(hanging.start_offset),
            config=command_config,
        )
    except BrokerError as exc:
        if ALREADY_ENDED in str(exc):
            return False
        raise
    return True

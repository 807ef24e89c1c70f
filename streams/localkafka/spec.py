"""What one local broker is: where and how it runs, and what is reported about it.

Contract: :class:`BrokerSpec` is the caller's request (data and cache dirs, Kafka
version, ports, ``plain`` or ``secure`` mode, heap); the controller listens on
``port + 1`` unless told otherwise and clients bootstrap at ``127.0.0.1:<port>``.
:class:`BrokerInfo` is what :func:`~streams.localkafka.process.start` and
:func:`~streams.localkafka.process.status` report about a running broker, and
:func:`as_dict` its JSON-friendly form. Plain values: nothing here touches a file or a
process.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from streams.localkafka.properties import Mode


@dataclass(frozen=True)
class BrokerSpec:
    """Where and how one local broker runs."""

    data_dir: Path
    cache_dir: Path
    version: str
    port: int = 9092
    controller_port: int | None = None  # default: port + 1
    mode: Mode = "plain"
    heap: str = "768m"

    @property
    def ctrl_port(self) -> int:
        return self.controller_port or self.port + 1

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"


@dataclass(frozen=True)
class BrokerInfo:
    """What ``start``/``status`` report about a running broker."""

    bootstrap: str
    version: str
    pid: int
    mode: str
    data_dir: str
    started_in_s: float = 0.0


def as_dict(info: BrokerInfo) -> dict[str, object]:
    """JSON-friendly view for ``broker status --json``."""
    return asdict(info)

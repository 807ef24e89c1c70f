"""A real single-node Apache Kafka broker (KRaft) for local runs, tests and demos.

Jars come from Maven Central (``install``), the config is generated (``properties``),
and the process is managed here (``process``). The CLI's ``creditstream broker``
drives it; the files it uses live in ``deploy/local/``.
"""

from streams.localkafka.process import BrokerInfo, BrokerSpec, kill, start, status, stop, wipe

__all__ = ["BrokerInfo", "BrokerSpec", "kill", "start", "status", "stop", "wipe"]

"""A real single-node Apache Kafka broker (KRaft) for local runs, tests and demos.

Jars come from Maven Central (``install``), the config is generated (``properties``),
the data dir is claimed and kept (``datadir``), and the process is managed here
(``process``) for a broker described by ``spec``. The CLI's ``creditstream broker``
drives it; the files it uses live in ``deploy/local/``.
"""

from streams.localkafka.process import kill, start, status, stop, wipe
from streams.localkafka.spec import BrokerInfo, BrokerSpec

__all__ = ["BrokerInfo", "BrokerSpec", "kill", "start", "status", "stop", "wipe"]

"""Every Prometheus metric of the exchange, declared once, on a registry passed in.

``Metrics(registry)`` registers every family on ``registry`` (tests build their own
``CollectorRegistry``; a worker builds one per process). Names follow Prometheus
conventions: counters end in ``_total``, durations are ``_seconds``, timestamps
``_timestamp_seconds``. ``FAMILIES`` lists every family as Prometheus stores it (the
text exposition's ``# TYPE`` names); dashboards, alert rules and tests refer to it.

Hot paths (per event) must not call ``labels()`` (~2 µs): the ``*_for(...)`` helpers
return the bound child from a small cache (~0.1 µs), the same object on every call.
Label values must have bounded cardinality: platform and bank names come from topic
names, reasons/kinds/purposes from closed enums. No personal data ever goes in a label.
No Kafka import: any process can build one.

The package's public API is the names below; import them from here
(``from streams.runtime.metrics import Metrics``). Its modules, by concept:
``families`` (what is counted: :data:`FAMILIES`, the histogram buckets, and the
families' declaration) and ``updates`` (:class:`Metrics`: how code moves them).
"""

from streams.runtime.metrics.families import BATCH_BUCKETS, FAMILIES, LATENCY_BUCKETS
from streams.runtime.metrics.updates import Metrics

__all__ = ["BATCH_BUCKETS", "FAMILIES", "LATENCY_BUCKETS", "Metrics"]

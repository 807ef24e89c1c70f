"""creditstream: a consented, audited credit-data exchange on Apache Kafka."""

# Before any module of the hot path is imported: compiled or its source (streams.native).
from streams import native as _native  # noqa: F401

__version__ = "0.1.0"

"""creditstream: a consented, audited credit-data exchange on Apache Kafka."""

__version__ = "0.1.0"

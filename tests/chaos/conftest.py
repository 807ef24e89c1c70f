"""The chaos tests' brokers: the integration tests' fixtures (a real KRaft broker)."""

from tests.integration.conftest import bootstrap

__all__ = ["bootstrap"]

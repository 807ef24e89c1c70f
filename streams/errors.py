"""One root error for creditstream; every error a user can see derives from it.

Errors carry enough context to act on (what, where) and never personal data.
"""

from __future__ import annotations


class CreditstreamError(Exception):
    """Root of every error raised on purpose by creditstream."""


class StageHaltError(CreditstreamError):
    """A stage stops on purpose and must not be restarted in place: a person must look."""


class ConfigError(CreditstreamError):
    """Settings are missing or invalid."""


class BrokerError(CreditstreamError):
    """The local Kafka broker could not be installed, started, reached or stopped."""


class DecodeError(CreditstreamError):
    """A record could not be decoded or validated.

    Keeps the original bytes untouched and where they came from, so the record can be
    routed to a rejected topic instead of being lost. ``reason`` is a stable machine
    code (see ``streams.wire.rejects.Reason``); ``message`` is human-readable and must
    never contain personal data.
    """

    def __init__(
        self,
        reason: str,
        message: str,
        raw: bytes,
        *,
        topic: str | None = None,
        partition: int | None = None,
        offset: int | None = None,
    ) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message
        self.raw = raw
        self.topic = topic
        self.partition = partition
        self.offset = offset

"""The rejected-record contract: what ``ingest.<platform>.rejected`` carries.

A reject keeps the ORIGINAL bytes as its value, untouched, and explains itself in
headers (UTF-8 strings), with ``content-type: application/octet-stream`` and the schema
its source topic expects (``streams.wire.headers.rejected_headers``). Its key is
``<source topic>:<partition>:<offset>`` so a platform can find the exact record it
sent. The one exception: a record larger than
``streams.stages.ingress.process.REJECT_COPY_MAX`` (512 KiB, far past the OVERSIZE
limit) keeps its first 512 KiB, and its message gives the full size (a reject must fit one
Kafka message; the whole record stays on the ingest topic for its retention). The
message never holds personal data. Pure: building and reading headers needs no Kafka import.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from streams.wire.headers import rejected_headers

H_SOURCE_TOPIC = "cs.source.topic"
H_SOURCE_PARTITION = "cs.source.partition"
H_SOURCE_OFFSET = "cs.source.offset"
H_REASON = "cs.reason"
H_MESSAGE = "cs.message"
H_REJECTED_AT = "cs.rejected.at"
#: On ``exchange.dead-letter`` only: the stage that could not decode the record.
H_STAGE = "cs.stage"

Headers = list[tuple[str, str | bytes | None]]


class Reason(StrEnum):
    """Stable reject reason codes (header ``reason`` and metric label)."""

    NOT_AVRO = "NOT_AVRO"  # no known wire-format header
    UNKNOWN_SCHEMA = "UNKNOWN_SCHEMA"  # header fine, fingerprint / registry id unknown
    WRONG_SCHEMA = "WRONG_SCHEMA"  # known schema, not allowed on that topic
    TRUNCATED = "TRUNCATED"  # body ends before the datum does
    MALFORMED = "MALFORMED"  # body is not valid for its schema, or has trailing bytes
    MISSING_FIELD = "MISSING_FIELD"
    INVALID_FIELD = "INVALID_FIELD"
    NEGATIVE_AMOUNT = "NEGATIVE_AMOUNT"
    UNKNOWN_CURRENCY = "UNKNOWN_CURRENCY"
    FUTURE_TIMESTAMP = "FUTURE_TIMESTAMP"
    TOO_OLD = "TOO_OLD"
    INVALID_DAYS_PAST_DUE = "INVALID_DAYS_PAST_DUE"
    DUPLICATE_EVENT = "DUPLICATE_EVENT"
    OVERSIZE = "OVERSIZE"


@dataclass(frozen=True, slots=True)
class Reject:
    """One refused record as its platform sees it; with ``stage`` set, an internal record
    a stage of the exchange could not decode, as ``exchange.dead-letter`` keeps it."""

    source_topic: str
    source_partition: int
    source_offset: int
    reason: str
    message: str
    rejected_at_ms: int
    original: bytes
    stage: str = ""

    @property
    def key(self) -> str:
        return reject_key(self.source_topic, self.source_partition, self.source_offset)

    def headers(self) -> Headers:
        """The Kafka headers of this reject."""
        return [
            (H_SOURCE_TOPIC, self.source_topic.encode()),
            (H_SOURCE_PARTITION, str(self.source_partition).encode()),
            (H_SOURCE_OFFSET, str(self.source_offset).encode()),
            (H_REASON, self.reason.encode()),
            (H_MESSAGE, self.message.encode()),
            (H_REJECTED_AT, str(self.rejected_at_ms).encode()),
            *([(H_STAGE, self.stage.encode())] if self.stage else []),
            *rejected_headers(self.source_topic),
        ]


def reject_key(topic: str, partition: int, offset: int) -> str:
    """The key of a reject: where the original record was."""
    return f"{topic}:{partition}:{offset}"


#: Headers as a Kafka client hands them over (a list of pairs, or a mapping).
RawHeaders = Sequence[tuple[str, str | bytes | None]] | Mapping[str, str | bytes | None] | None


def _text(value: str | bytes | None) -> str:
    if isinstance(value, str):
        return value
    return (value or b"").decode("utf-8", "replace")


def from_headers(headers: RawHeaders, value: bytes | None) -> Reject:
    """Rebuild a ``Reject`` from a consumed record; ``ValueError`` if headers are missing."""
    pairs = headers.items() if isinstance(headers, Mapping) else headers or ()
    found = {k: _text(v) for k, v in pairs}
    try:
        return Reject(
            source_topic=found[H_SOURCE_TOPIC],
            source_partition=int(found[H_SOURCE_PARTITION]),
            source_offset=int(found[H_SOURCE_OFFSET]),
            reason=found[H_REASON],
            message=found[H_MESSAGE],
            rejected_at_ms=int(found[H_REJECTED_AT]),
            original=value or b"",
            stage=found.get(H_STAGE, ""),
        )
    except (KeyError, ValueError) as exc:
        raise ValueError(f"not a creditstream reject record: {exc}") from exc

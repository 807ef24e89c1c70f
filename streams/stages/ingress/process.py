"""Pure per-record ingress logic: bytes in, an accepted event or a reject out.

No Kafka import: the stage hands in ``RawRecord``s and sends what comes back. The
platform is derived from the topic name, never from the payload. Accepted events carry
the encoded ``ExchangeEvent`` keyed by borrower_id; the raw national ID and the user
key stop here. Refused records keep their original bytes untouched; one larger than
``REJECT_COPY_MAX`` keeps its first ``REJECT_COPY_MAX`` (a reject is one Kafka message).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from streams import topics
from streams.domain.privacy import Pseudonymizer
from streams.domain.validation import (
    InvalidEventError,
    ValidationLimits,
    check_size,
    to_avro,
    to_exchange_event,
)
from streams.errors import CreditstreamError, DecodeError
from streams.runtime.guard import RatioGuard
from streams.stages.ingress.dedup import Dedup
from streams.stages.ingress.transcode import Transcoder
from streams.wire.codec import SniffingCodec
from streams.wire.rejects import Reason, Reject
from streams.wire.schemas import ACTIVITY_EVENT, EXCHANGE_EVENT, LOAN_EVENT

#: Which schema each kind of ingest topic accepts.
EXPECTED: Final = {"loans": frozenset({LOAN_EVENT}), "activity": frozenset({ACTIVITY_EVENT})}

#: The most of a refused record's bytes its reject carries. A platform can put records
#: of many MB on its topic (the broker checks the compressed size), and one with default
#: client settings sends ~1,000,000 bytes; but a reject, key and headers included, must
#: fit librdkafka's default ``message.max.bytes`` (1,000,000) and the broker's default
#: ``max.message.bytes`` (1,048,588), or the ingress transaction fails on it after every
#: restart and ingress stops for every platform. Larger records (OVERSIZE long before
#: this) keep their first bytes, the message says so, and the reject key still names
#: where the whole record is.
REJECT_COPY_MAX: Final = 512 * 1024


@dataclass(slots=True, init=False, unsafe_hash=True)
class RawRecord:
    """One record as consumed from an ingest topic. Built by hand like
    :class:`~streams.wire.events.LoanFacts` (mypyc compiles the init)."""

    topic: str
    partition: int
    offset: int
    value: bytes | None
    timestamp_ms: int

    def __init__(
        self, topic: str, partition: int, offset: int, value: bytes | None, timestamp_ms: int
    ) -> None:
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.value = value
        self.timestamp_ms = timestamp_ms


@dataclass(slots=True, init=False, unsafe_hash=True)
class Accepted:
    """A valid, new event: send ``value`` to exchange.events under ``key``. Built by
    hand like :class:`~streams.wire.events.LoanFacts` (mypyc compiles the init)."""

    platform: str
    kind: str  # "loans" | "activity"
    event_type: str  # loan event type or activity kind, for metrics
    event_id: str
    key: bytes  # borrower_id
    value: bytes  # encoded io.creditstream.ExchangeEvent
    dedup_expiry: int

    def __init__(
        self,
        platform: str,
        kind: str,
        event_type: str,
        event_id: str,
        key: bytes,
        value: bytes,
        dedup_expiry: int,
    ) -> None:
        self.platform = platform
        self.kind = kind
        self.event_type = event_type
        self.event_id = event_id
        self.key = key
        self.value = value
        self.dedup_expiry = dedup_expiry


@dataclass(frozen=True, slots=True)
class Refused:
    """A record that cannot be accepted: send ``reject`` to the platform's rejected topic."""

    platform: str
    reject: Reject
    event_id: str | None = None


class IngressProcessor:
    """Decode, validate, dedup and pseudonymize one record at a time.

    Current-schema single-object records are read and rewritten by the
    :class:`~streams.stages.ingress.transcode.Transcoder`; every other record, and
    every record it declines, takes the codec. Both give the same outcome.
    """

    def __init__(
        self,
        codec: SniffingCodec,
        pseudonymizer: Pseudonymizer,
        limits: ValidationLimits,
        dedup: Dedup,
        *,
        transcode: bool = True,
    ) -> None:
        self.codec = codec
        #: ``transcode=False``: every record takes the codec (tests and benchmarks compare).
        self.transcoder = Transcoder(codec, enabled=transcode)
        self.pseudonymizer = pseudonymizer
        self.limits = limits
        self.dedup = dedup

    def process(self, rec: RawRecord, now_ms: int) -> Accepted | Refused:
        """The outcome of one record; never raises for bad input."""
        parsed = topics.platform_of(rec.topic)
        if parsed is None:  # the stage subscribes by pattern, so this is a wiring bug
            raise CreditstreamError(f"ingress was handed a non-ingest topic {rec.topic}")
        platform, kind = parsed
        raw = rec.value or b""
        event_id: str | None = None
        try:
            if not raw:
                raise DecodeError(Reason.NOT_AVRO, "empty record", raw)
            if len(raw) > self.limits.max_record_bytes:  # the call only to refuse
                check_size(raw, self.limits)
            fast = self.transcoder.read(raw, kind)
            if fast is None:
                schema, datum = self.codec.decode(raw, EXPECTED[kind])
                tail = 0
            else:
                schema, datum, tail = fast
            event_id = datum.get("event_id") if isinstance(datum.get("event_id"), str) else None
            event = to_exchange_event(
                platform, schema, datum, self.pseudonymizer, now_ms, rec.timestamp_ms, self.limits
            )
            source = (rec.topic, rec.partition)
            if self.dedup.seen(source, event.event_id, now_ms):
                raise DecodeError(
                    Reason.DUPLICATE_EVENT, "event_id was already accepted from this platform", raw
                )
        except DecodeError as exc:
            return self._refuse(platform, rec, exc.reason, exc.message, now_ms, event_id)
        except InvalidEventError as exc:
            return self._refuse(platform, rec, exc.reason, exc.message, now_ms, event_id)
        expiry = self.dedup.stage(source, event.event_id, now_ms)
        event_type = (
            event.loan.type if event.loan else event.activity.kind if event.activity else ""
        )
        return Accepted(
            platform=platform,
            kind=kind,
            event_type=str(event_type),
            event_id=event.event_id,
            key=event.borrower_id.encode(),
            value=(
                self.transcoder.write(event, raw, tail)
                if tail
                else self.codec.encode(EXCHANGE_EVENT, to_avro(event))
            ),
            dedup_expiry=expiry,
        )

    @staticmethod
    def _refuse(
        platform: str, rec: RawRecord, reason: str, message: str, now_ms: int, event_id: str | None
    ) -> Refused:
        original = rec.value or b""
        if len(original) > REJECT_COPY_MAX:
            message += f" (the reject keeps its first {REJECT_COPY_MAX} of {len(original)} bytes)"
            original = original[:REJECT_COPY_MAX]
        reject = Reject(
            source_topic=rec.topic,
            source_partition=rec.partition,
            source_offset=rec.offset,
            reason=str(reason),
            message=message,
            rejected_at_ms=now_ms,
            original=original,
        )
        return Refused(platform, reject, event_id)


def reject_guard(ratio: float, window: int) -> RatioGuard:
    """Ingress's guard: nearly every ingest record refused means a broken deploy."""
    return RatioGuard(
        ratio,
        window,
        "ingest records were rejected",
        "stopping ingress without committing them; "
        "check the pseudonymization key, schemas and validation limits",
    )

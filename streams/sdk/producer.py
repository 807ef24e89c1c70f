"""Platform producer SDK: validate locally, encode, send idempotently, report deliveries.

Contract of :class:`PlatformProducer` (one instance per platform, used as a context
manager):

* ``send_loan``/``send_activity``/``send`` check the event with the exchange's own rules
  in the ingress's order (encode, size limit, :func:`streams.domain.validation.validate_event`)
  BEFORE anything is queued. A refused event raises :class:`RefusedEventError` (reason code, field,
  message; never a payload value) and nothing is sent, so a refusal cannot go unnoticed.
* Accepted events are keyed by their ``user_key`` and go to ``ingest.<platform>.loans``
  or ``.activity`` as the schema decides. The producer is idempotent
  (``enable.idempotence``, ``acks=all``), so retries never duplicate or reorder a key.
* Each record's outcome arrives as a :class:`DeliveryReport` through ``on_delivery``,
  called from ``send*``/``poll``/``flush`` in the caller's thread. An exception raised by
  the callback propagates out of that call.
* Leaving the ``with`` block flushes. If records are still undelivered after
  ``flush_timeout`` seconds, or any delivery failed, it raises :class:`DeliveryError`
  (unless the block is already raising, which is then not masked).
* ``send_raw`` bypasses every check. It exists for tests and the simulator to inject
  deliberately bad records; a platform's production code must not use it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from streams import topics
from streams.clock import now_ms
from streams.domain.validation import (
    DEFAULT_LIMITS,
    InvalidEventError,
    ValidationLimits,
    check_size,
    validate_event,
)
from streams.errors import BrokerError, ConfigError, CreditstreamError, DecodeError
from streams.runtime.registry import codec_for
from streams.settings import KafkaConf, Settings
from streams.wire.codec import EncodeError, SniffingCodec
from streams.wire.schemas import ACTIVITY_EVENT, LOAN_EVENT

TopicKind = Literal["loans", "activity"]
_SCHEMA_TOPIC: dict[str, TopicKind] = {LOAN_EVENT: "loans", ACTIVITY_EVENT: "activity"}


class ProducerError(CreditstreamError):
    """Root of the SDK producer's errors."""


class RefusedEventError(ProducerError):
    """An event broke a rule and was NOT sent. Names the field, never its value."""

    def __init__(self, reason: str, message: str, field: str | None = None) -> None:
        super().__init__(f"refused ({reason}): {message}")
        self.reason = reason
        self.message = message
        self.field = field


class DeliveryError(ProducerError):
    """Records failed or were still undelivered when the producer closed."""

    def __init__(self, failed: int, undelivered: int) -> None:
        super().__init__(f"{failed} record(s) failed and {undelivered} were still undelivered")
        self.failed = failed
        self.undelivered = undelivered


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    """The outcome of one record. ``error`` is None on success (then offset >= 0).

    ``event_id`` is set for validated sends, ``ref`` is whatever the caller passed to
    ``send*(ref=...)`` to correlate reports with its own records.
    """

    topic: str
    partition: int
    offset: int
    error: str | None
    event_id: str | None = None
    ref: object = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(slots=True)
class ProducerStats:
    """Counts since the producer was created."""

    queued: int = 0
    delivered: int = 0
    failed: int = 0
    refused: int = 0

    @property
    def in_flight(self) -> int:
        return self.queued - self.delivered - self.failed


class PlatformProducer:
    """Idempotent producer for ONE platform's ingest topics (see the module docstring)."""

    def __init__(
        self,
        platform: str,
        settings: Settings,
        *,
        on_delivery: Callable[[DeliveryReport], None] | None = None,
        codec: SniffingCodec | None = None,
        limits: ValidationLimits = DEFAULT_LIMITS,
        clock: Callable[[], int] = now_ms,
        flush_timeout: float = 30.0,
        check_topics: bool = True,
        extra_config: KafkaConf | None = None,
    ) -> None:
        if not topics.valid_tenant(platform):
            raise ConfigError(f"invalid platform name {platform!r}: use a-z, 0-9 and '-'")
        self.platform = platform
        self.topics: dict[TopicKind, str] = {
            "loans": topics.ingest_loans(platform),
            "activity": topics.ingest_activity(platform),
        }
        self.codec = codec or codec_for(settings.schema_registry_url)
        self.limits, self._clock, self.flush_timeout = limits, clock, flush_timeout
        self._on_delivery = on_delivery
        self.stats = ProducerStats()
        conf: dict[str, Any] = dict(settings.kafka_client_config())
        conf |= {
            "client.id": f"creditstream-sdk-{platform}",
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 5,
            # Java clients' partitioner: a key lands on the same partition whichever
            # client (Python or JVM) a platform uses.
            "partitioner": "murmur2_random",
        }
        conf |= dict(extra_config or {})
        self._producer: Producer | None = Producer(conf)
        if check_topics:
            try:
                self._check_topics()
            except CreditstreamError:
                self._producer = None  # nothing was queued; release the client now
                raise

    def _check_topics(self) -> None:
        """Fail fast: with auto-creation off, a missing topic would only time out later."""
        try:
            metadata = self._live().list_topics(timeout=10)
        except KafkaException as exc:
            raise BrokerError(
                f"cannot reach Kafka to check {self.platform}'s topics: {exc}"
            ) from exc
        missing = [t for t in self.topics.values() if t not in metadata.topics]
        if missing:
            raise ConfigError(
                f"topic(s) {', '.join(missing)} do not exist: provision the platform first "
                f"(creditstream admin provision-platform {self.platform})"
            )

    def __enter__(self) -> PlatformProducer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close(raise_errors=exc_type is None)

    def _live(self) -> Producer:
        if self._producer is None:
            raise ProducerError(f"the producer of {self.platform} is closed")
        return self._producer

    # -- sending ------------------------------------------------------------------------

    def send_loan(self, datum: Mapping[str, Any], *, ref: object = None) -> str:
        """Validate and queue a ``LoanEvent``; returns its event_id."""
        return self.send(LOAN_EVENT, datum, ref=ref)

    def send_activity(self, datum: Mapping[str, Any], *, ref: object = None) -> str:
        """Validate and queue an ``ActivityEvent``; returns its event_id."""
        return self.send(ACTIVITY_EVENT, datum, ref=ref)

    def send(self, schema_name: str, datum: Mapping[str, Any], *, ref: object = None) -> str:
        """Validate, encode, size-check and queue; raises RefusedEventError, sends nothing."""
        full = schema_name if "." in schema_name else f"io.creditstream.{schema_name}"
        kind = _SCHEMA_TOPIC.get(full)
        if kind is None:
            raise self._refuse("WRONG_SCHEMA", "only LoanEvent and ActivityEvent can be sent")
        # Same order as the ingress (size, then decode, then rules), so a refused event
        # gets the reason the exchange would give it.
        now = self._clock()
        try:
            try:
                value = self.codec.encode(full, datum)
            except EncodeError:
                validate_event(full, datum, now, self.limits)  # a clearer reason, if any
                raise
            check_size(value, self.limits)
            validate_event(full, datum, now, self.limits)
        except (InvalidEventError, EncodeError) as exc:
            raise self._refuse(exc.reason, exc.message, exc.field) from None
        except DecodeError as exc:  # check_size: OVERSIZE
            raise self._refuse(exc.reason, exc.message) from None
        event_id = str(datum["event_id"])
        self._produce(self.topics[kind], str(datum["user_key"]).encode(), value, event_id, ref)
        return event_id

    def send_raw(
        self, topic_kind: TopicKind, key: str | bytes | None, value: bytes, *, ref: object = None
    ) -> None:
        """TEST/SIMULATION ONLY: queue bytes unchecked on this platform's ``topic_kind``."""
        if topic_kind not in self.topics:
            raise ProducerError(f"topic kind must be 'loans' or 'activity', not {topic_kind!r}")
        raw_key = key.encode() if isinstance(key, str) else key
        self._produce(self.topics[topic_kind], raw_key, value, None, ref)

    def _refuse(self, reason: str, message: str, field: str | None = None) -> RefusedEventError:
        self.stats.refused += 1
        return RefusedEventError(str(reason), message, field)

    def _produce(
        self, topic: str, key: bytes | None, value: bytes, event_id: str | None, ref: object
    ) -> None:
        producer = self._live()

        def delivered(err: KafkaError | None, msg: Message) -> None:
            self._report(err, msg, event_id, ref)

        while True:
            try:
                producer.produce(topic, value=value, key=key, on_delivery=delivered)
                break
            except BufferError:
                # Local queue full: serve delivery reports until there is room again.
                producer.poll(0.1)
            except KafkaException as exc:
                raise ProducerError(f"cannot queue a record for {topic}: {exc}") from exc
        self.stats.queued += 1
        producer.poll(0)

    def _report(
        self, err: KafkaError | None, msg: Message, event_id: str | None, ref: object
    ) -> None:
        if err is None:
            self.stats.delivered += 1
        else:
            self.stats.failed += 1
        if self._on_delivery is not None:
            partition, offset = msg.partition(), msg.offset()
            self._on_delivery(
                DeliveryReport(
                    topic=msg.topic() or "",
                    partition=-1 if partition is None else partition,
                    offset=-1 if offset is None or err is not None else offset,
                    error=None if err is None else f"{err.name()}: {err.str()}",
                    event_id=event_id,
                    ref=ref,
                )
            )

    # -- flushing -----------------------------------------------------------------------

    def poll(self, timeout: float = 0.0) -> int:
        """Serve delivery reports; returns how many were served."""
        return self._live().poll(timeout)

    def flush(self, timeout: float | None = None) -> int:
        """Wait for every queued record; returns how many are still undelivered."""
        return self._live().flush(self.flush_timeout if timeout is None else timeout)

    def close(self, *, raise_errors: bool = True) -> int:
        """Flush and release the client; returns how many records stayed undelivered.

        With ``raise_errors`` it raises DeliveryError instead when any record failed or
        stayed undelivered. Closing twice is harmless (the second returns 0).
        """
        if self._producer is None:
            return 0
        undelivered = self.flush()
        self._producer = None
        if raise_errors and (undelivered or self.stats.failed):
            raise DeliveryError(self.stats.failed, undelivered)
        return undelivered

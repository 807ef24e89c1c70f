"""The request side of the bank SDK: Subscription records onto ``banks.<bank>.subscriptions``.

:class:`RequestSender` encodes a ``Subscription`` datum and queues it keyed by
``customer_ref`` with an idempotent producer (``acks=all``; retries never duplicate or
reorder a customer's requests), reporting each outcome as a
:class:`~streams.sdk.producer.DeliveryReport`. The producer is created on the first
request, after checking that the topic exists (auto-creation is off: a missing topic
would only time out minutes later). :func:`topic_partitions` is that check.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer
from confluent_kafka.admin import AdminClient

from streams.errors import BrokerError, ConfigError
from streams.sdk.producer import DeliveryReport
from streams.wire.codec import SniffingCodec
from streams.wire.schemas import SUBSCRIPTION


def topic_partitions(conf: Mapping[str, Any], topic: str, bank: str) -> list[int]:
    """The topic's partitions; ConfigError when it is missing or not visible to us."""
    client = AdminClient(dict(conf))
    try:
        found = client.list_topics(topic, timeout=10).topics.get(topic)
    except KafkaException as exc:
        raise BrokerError(f"cannot reach Kafka to check {topic}: {exc}") from exc
    if found is None or found.error is not None or not found.partitions:
        why = f" ({found.error.str()})" if found is not None and found.error else ""
        raise ConfigError(f"topic {topic} is not available{why}: is {bank} provisioned?")
    return sorted(found.partitions)


class RequestSender:
    """Queue Subscription records for one bank; ``failed`` counts failed deliveries."""

    def __init__(
        self,
        bank: str,
        topic: str,
        conf: Mapping[str, Any],
        codec: SniffingCodec,
        on_delivery: Callable[[DeliveryReport], None] | None = None,
    ) -> None:
        self.bank, self.topic, self.codec = bank, topic, codec
        self._conf = dict(conf)
        self._on_delivery = on_delivery
        self._producer: Producer | None = None
        self.failed = 0

    def send(self, datum: Mapping[str, Any]) -> None:
        """Encode (EncodeError names a bad field, never its value) and queue ``datum``."""
        value = self.codec.encode(SUBSCRIPTION, datum)
        ref = str(datum["customer_ref"])
        producer = self._live()
        while True:
            try:
                producer.produce(
                    self.topic,
                    value=value,
                    key=ref.encode(),
                    on_delivery=lambda err, msg: self._report(err, msg, ref),
                )
                break
            except BufferError:
                producer.poll(0.1)  # local queue full: serve reports until there is room
        producer.poll(0)

    def _report(self, err: KafkaError | None, msg: Message, ref: str) -> None:
        if err is not None:
            self.failed += 1
        if self._on_delivery is not None:
            partition, offset = msg.partition(), msg.offset()
            self._on_delivery(
                DeliveryReport(
                    topic=msg.topic() or "",
                    partition=-1 if partition is None else partition,
                    offset=-1 if offset is None or err is not None else offset,
                    error=None if err is None else f"{err.name()}: {err.str()}",
                    ref=ref,
                )
            )

    def _live(self) -> Producer:
        if self._producer is None:
            topic_partitions(self._conf, self.topic, self.bank)
            self._producer = Producer(
                self._conf
                | {
                    "client.id": f"creditstream-sdk-{self.bank}",
                    "enable.idempotence": True,
                    "acks": "all",
                    "linger.ms": 5,
                    "partitioner": "murmur2_random",  # where Java clients put the key
                }
            )
        return self._producer

    def flush(self, timeout: float) -> int:
        """Wait for queued requests; returns how many are still undelivered."""
        return 0 if self._producer is None else self._producer.flush(timeout)

    def close(self, timeout: float) -> int:
        undelivered = self.flush(timeout)
        self._producer = None
        return undelivered

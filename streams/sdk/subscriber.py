"""Bank subscriber SDK: subscribe/revoke borrowers, consume the feed exactly once per version.

Contract of :class:`BankSubscriber` (one per bank, used as a context manager):

* ``subscribe``/``revoke`` check the request locally (purpose from the fixed list, a
  timezone-aware expiry in the future, non-empty references; errors never echo the
  national ID) and queue a ``Subscription`` keyed by ``customer_ref`` on
  ``banks.<bank>.subscriptions`` with an idempotent producer (``acks=all``). Outcomes
  arrive through ``on_delivery``; leaving the ``with`` block flushes and raises
  :class:`~streams.sdk.producer.DeliveryError` if any request was not delivered.
* ``feed`` reads ``banks.<bank>.feed`` (committed records only) in the consumer group
  ``<bank>.feed`` by default (inside the bank's ACL group prefix ``<bank>.``) and yields
  :class:`FeedItem`s deduplicated and ordered by ``(customer_ref, profile_version)``
  (:class:`~streams.sdk.ledger.VersionLedger`): a profile update or alert whose version
  is not newer than the last one applied for its customer_ref is dropped; acks, rejects
  and "no data yet" always pass. A record that does not decode is counted, logged and
  skipped, except a Confluent-framed one while no Schema Registry is configured: that is
  the bank's setup, so ``feed`` stops with :class:`ConfigError` and the record stays
  unconfirmed (read again once the registry is configured).
* ``subscribe``/``revoke`` also apply the exchange's national-ID and reference rules
  (:func:`check_identity`) before sending.

Why this is exactly-once for the bank: Kafka gives at-least-once (a crash between
handling a record and committing its offset redelivers it; the exchange may itself
re-send a version after a failover). The SDK therefore commits in this order: an item
counts as handled once the caller asks for the next one (or the iterator ends); the
versions of handled items are written to the local ledger file (``state_path``,
sqlite3, durable on commit) FIRST, and only then are their offsets committed. A crash
before the ledger write redelivers items the bank had not finished (at-least-once); a
crash between the ledger write and the offset commit redelivers items the ledger
already holds, and they are dropped (then-dedup). Leaving the loop early (``break``, an
exception) does not count the item you left on: it is delivered again by the next
``feed`` or after a restart. Run one consuming process per ``state_path``.

``from_beginning=True`` reads the whole retained feed by manual assignment without
joining or committing anything (a private look, e.g. ``creditstream feed
--from-beginning``); its dedup ledger then lives in memory for that reading only.
``state_path`` is required for ``feed`` in the group mode only: requests need none.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    TopicPartition,
)

from streams import topics
from streams.clock import now_ms
from streams.domain.privacy import is_valid_national_id, normalize_national_id
from streams.errors import ConfigError, DecodeError
from streams.runtime.registry import codec_for
from streams.sdk.feeditem import FeedItem, SubscriberError, check_request, to_feed_item
from streams.sdk.ledger import LedgerStore, VersionLedger
from streams.sdk.producer import DeliveryError, DeliveryReport
from streams.sdk.requests import RequestSender, topic_partitions
from streams.settings import KafkaConf, Settings
from streams.wire.codec import CONFLUENT_MAGIC, SniffingCodec
from streams.wire.schemas import FEED_RECORD

log = logging.getLogger(__name__)
_FATAL_CONSUMER_ERRORS = {
    KafkaError.TOPIC_AUTHORIZATION_FAILED,
    KafkaError.GROUP_AUTHORIZATION_FAILED,
    KafkaError.UNKNOWN_TOPIC_OR_PART,
    KafkaError._AUTHENTICATION,
}


def check_identity(national_id: str, customer_ref: str, consent_ref: str | None) -> None:
    """The exchange's own rules (:func:`streams.domain.consent.parse_request`) on the national ID
    and the references, checked before sending so a request that would be refused on
    the feed is refused here at once: the ID is 4-32 letters/digits once normalized; the
    references are printable and are not the ID (they travel to feeds and the audit
    log). ``consent_ref`` None: a revocation, which needs none. Never echoes a value."""
    national = normalize_national_id(national_id)
    if not is_valid_national_id(national):
        raise SubscriberError("national_id is not 4-32 letters/digits once normalized")
    if not customer_ref.isprintable() or normalize_national_id(customer_ref) == national:
        raise SubscriberError("customer_ref must be printable and must not be the national ID")
    if consent_ref is not None and (
        not consent_ref.isprintable() or normalize_national_id(consent_ref) == national
    ):
        raise SubscriberError("consent_ref must be printable and must not be the national ID")


class BankSubscriber:
    """Subscribe, revoke and consume for ONE bank (see the module docstring)."""

    def __init__(
        self,
        bank: str,
        settings: Settings,
        *,
        state_path: Path | str | None = None,
        group: str | None = None,
        from_beginning: bool = False,
        on_delivery: Callable[[DeliveryReport], None] | None = None,
        codec: SniffingCodec | None = None,
        clock: Callable[[], int] = now_ms,
        flush_timeout: float = 30.0,
        commit_every: int = 500,
        extra_config: KafkaConf | None = None,
    ) -> None:
        if not topics.valid_tenant(bank):
            raise ConfigError(f"invalid bank name {bank!r}: use a-z, 0-9 and '-'")
        self.bank = bank
        self.group = group or f"{bank}.feed"
        if not self.group.startswith(f"{bank}."):
            raise ConfigError(f"consumer group {self.group!r} must start with '{bank}.'")
        self.subscriptions_topic = topics.subscriptions(bank)
        self.feed_topic = topics.feed(bank)
        self.codec = codec or codec_for(settings.schema_registry_url)
        self.from_beginning = from_beginning
        self.flush_timeout, self.commit_every = flush_timeout, commit_every
        self._conf: dict[str, Any] = dict(settings.kafka_client_config()) | dict(extra_config or {})
        self._clock = clock
        self._requests = RequestSender(
            bank, self.subscriptions_topic, self._conf, self.codec, on_delivery
        )
        self._consumer: Consumer | None = None
        self._closed = False
        self.dropped = 0
        self.undecodable = 0
        # The ledger file is opened here (not at the first feed) so a wrong file fails
        # early; requests alone (subscribe/revoke) need none.
        self._state_path = None if state_path is None else Path(state_path)
        self._store: LedgerStore | None = None
        if self._state_path is not None and not from_beginning:
            self._store = LedgerStore(self._state_path, bank)
        self.ledger = VersionLedger(self._store.load() if self._store else None)
        self._confirmed: dict[tuple[str, int], int] = {}  # next offset per partition
        self._since_flush = 0
        self._assigned: set[tuple[str, int]] = set()

    def __enter__(self) -> BankSubscriber:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close(raise_errors=exc_type is None)

    # -- requests -----------------------------------------------------------------------

    def subscribe(
        self,
        national_id: str,
        customer_ref: str,
        consent_ref: str,
        purpose: str,
        expires_at: datetime,
    ) -> None:
        """Queue a SUBSCRIBE for a borrower the bank holds consent for until ``expires_at``."""
        now = self._clock()
        expires_ms = check_request(national_id, customer_ref, consent_ref, purpose, expires_at)
        if expires_ms <= now:
            raise SubscriberError("expires_at is not in the future")
        check_identity(national_id, customer_ref, consent_ref)
        self._send(national_id, customer_ref, consent_ref, purpose, expires_ms, "SUBSCRIBE", now)

    def _send(
        self,
        national_id: str,
        customer_ref: str,
        consent_ref: str,
        purpose: str,
        expires_ms: int,
        action: str,
        now: int,
    ) -> None:
        if self._closed:
            raise SubscriberError(f"the subscriber of {self.bank} is closed")
        self._requests.send(
            {
                "national_id": national_id,
                "customer_ref": customer_ref,
                "consent_ref": consent_ref,
                "purpose": purpose,
                "expires_at": expires_ms,
                "action": action,
                "requested_at": now,
            }
        )

    def revoke(
        self,
        customer_ref: str,
        national_id: str,
        consent_ref: str,
        purpose: str = "CREDIT_APPLICATION",
    ) -> None:
        """Queue a REVOKE: delivery for ``customer_ref`` stops. ``purpose`` is recorded
        but not used by the exchange; the expiry is set to the request time."""
        now = self._clock()
        check_request(national_id, customer_ref, consent_ref, purpose, None)
        check_identity(national_id, customer_ref, None)
        self._send(national_id, customer_ref, consent_ref, purpose, now, "REVOKE", now)

    # -- feed -----------------------------------------------------------------------------

    def feed(
        self, timeout: float | None = 5.0, *, limit: int | None = None, stop_at_end: bool = False
    ) -> Iterator[FeedItem]:
        """New feed items, deduplicated and in version order per customer_ref.

        Ends after ``timeout`` seconds without any record (None: never), after ``limit``
        items, or (``stop_at_end``) once every partition is read to its end.
        """
        consumer = self._live_consumer()
        at_end: set[tuple[str, int]] = set()
        yielded, last_record = 0, time.monotonic()
        try:
            while limit is None or yielded < limit:
                if stop_at_end and self._assigned and at_end >= self._assigned:
                    return
                if timeout is not None and time.monotonic() - last_record > timeout:
                    return
                msg = consumer.poll(0.2)
                if msg is None:
                    self._flush()
                    continue
                where = (msg.topic() or "", msg.partition() or 0)
                if self._consumer_error(msg):
                    at_end.add(where)
                    self._flush()
                    continue
                at_end.discard(where)
                last_record = time.monotonic()
                offset = msg.offset() or 0
                item = self._decode(msg)
                previous = None if item is None else self.ledger.last(item.customer_ref)
                if item is None or not self.ledger.admit(
                    item.customer_ref, item.profile_version, item.kind
                ):
                    self.dropped += item is not None
                    self._confirm(where, offset)
                    continue
                try:
                    yield item
                except GeneratorExit:
                    # Left on this item: not handled. Undo it so it comes again.
                    self.ledger.restore(item.customer_ref, previous)
                    self._seek(where, offset)
                    raise
                yielded += 1
                self._confirm(where, offset)
        finally:
            if not self._closed:
                self._flush()

    def _confirm(self, where: tuple[str, int], offset: int) -> None:
        self._confirmed[where] = offset + 1
        self._since_flush += 1
        if self._since_flush >= self.commit_every:
            self._flush()

    def _flush(self) -> None:
        """Ledger first, offsets second (see the module docstring)."""
        if self._store is not None:
            self._store.save(self.ledger.take_changes())
        if self._confirmed and not self.from_beginning and self._consumer is not None:
            offsets = [TopicPartition(t, p, o) for (t, p), o in self._confirmed.items()]
            try:
                self._consumer.commit(offsets=offsets, asynchronous=False)
            except KafkaException as exc:
                # Redelivery is harmless: the ledger drops what was applied.
                log.warning("feed offset commit failed (will be redelivered): %s", exc)
        self._confirmed.clear()
        self._since_flush = 0

    def _seek(self, where: tuple[str, int], offset: int) -> None:
        if self._consumer is None:
            return
        try:
            self._consumer.seek(TopicPartition(where[0], where[1], offset))
        except KafkaException as exc:  # revoked meanwhile: it stays uncommitted anyway
            log.warning("could not rewind %s[%d]: %s", where[0], where[1], exc)

    def _consumer_error(self, msg: Message) -> bool:
        """True for a partition-EOF event; raises on errors a bank must act on."""
        err = msg.error()
        if err is None:
            return False
        if err.code() == KafkaError._PARTITION_EOF:
            return True
        if err.fatal() or err.code() in _FATAL_CONSUMER_ERRORS:
            raise SubscriberError(f"cannot read {self.feed_topic}: {err.name()}: {err.str()}")
        log.warning("feed consumer: %s", err.str())
        return False

    def _decode(self, msg: Message) -> FeedItem | None:
        value = msg.value() or b""
        if value[:1] == CONFLUENT_MAGIC and self.codec.confluent is None:
            # The bank's configuration, not the record, is wrong: stop before the record
            # is confirmed, so it is read again once a registry is configured.
            raise ConfigError(
                f"cannot read {msg.topic()} (partition {msg.partition()}, offset "
                f"{msg.offset()}): Confluent-framed record but no Schema Registry "
                "configured (set CREDITSTREAM_SCHEMA_REGISTRY_URL)"
            )
        try:
            _name, datum = self.codec.decode(value, {FEED_RECORD})
        except DecodeError as exc:
            # Not the bank's to fix and must not block its feed: counted and logged.
            self.undecodable += 1
            log.warning(
                "undecodable feed record at %s[%s]@%s: %s",
                msg.topic(),
                msg.partition(),
                msg.offset(),
                exc.reason,
            )
            return None
        return to_feed_item(datum, msg.partition() or 0, msg.offset() or 0)

    def _live_consumer(self) -> Consumer:
        if self._closed:
            raise SubscriberError(f"the subscriber of {self.bank} is closed")
        if self._consumer is not None:
            return self._consumer
        if self._store is None and not self.from_beginning:
            raise ConfigError(
                "feed() needs state_path: the applied versions must outlive the process"
            )
        partitions = topic_partitions(self._conf, self.feed_topic, self.bank)
        group = f"{self.bank}.peek-{uuid.uuid4().hex[:8]}" if self.from_beginning else self.group
        consumer = Consumer(
            self._conf
            | {
                "group.id": group,
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "isolation.level": "read_committed",
                "enable.partition.eof": True,
            }
        )
        if self.from_beginning:
            consumer.assign(
                [TopicPartition(self.feed_topic, p, OFFSET_BEGINNING) for p in partitions]
            )
            self._assigned = {(self.feed_topic, p) for p in partitions}
        else:
            consumer.subscribe(
                [self.feed_topic], on_assign=self._on_assign, on_revoke=self._on_revoke
            )
        self._consumer = consumer
        return consumer

    def _on_assign(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._assigned |= {(tp.topic, tp.partition) for tp in partitions}

    def _on_revoke(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # Called inside poll, never while an item is out with the caller: all confirmed.
        self._flush()
        self._assigned -= {(tp.topic, tp.partition) for tp in partitions}

    # -- closing --------------------------------------------------------------------------

    @property
    def failed(self) -> int:
        """Requests whose delivery failed."""
        return self._requests.failed

    def flush(self, timeout: float | None = None) -> int:
        """Wait for queued requests; returns how many are still undelivered."""
        return self._requests.flush(self.flush_timeout if timeout is None else timeout)

    def close(self, *, raise_errors: bool = True) -> None:
        """Flush requests, save the ledger, commit, release the clients. Idempotent."""
        if self._closed:
            return
        undelivered = self._requests.close(self.flush_timeout)
        try:
            if self._consumer is not None:
                self._flush()
                self._consumer.close()
        finally:
            self._consumer = None
            if self._store is not None:
                self._store.close()
            self._closed = True
        if raise_errors and (undelivered or self.failed):
            raise DeliveryError(self.failed, undelivered)

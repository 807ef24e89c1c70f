"""The feed side of the bank SDK: ``banks.<bank>.feed``, applied once per profile version.

Contract of :class:`FeedReader` (one per bank and ledger file; :class:`BankSubscriber
<streams.sdk.subscriber.client.BankSubscriber>` owns one and hands out its ``read``):

* It reads committed records only, in the consumer group it is given, and yields feed
  items (:class:`~streams.sdk.subscriber.items.FeedItem`) deduplicated and ordered by
  ``(customer_ref, profile_version)``
  (:class:`~streams.sdk.subscriber.ledger.VersionLedger`): a profile update or alert
  whose version is not newer than the last one applied for its customer_ref is dropped
  (counted in ``dropped``); acks, rejects and "no data yet" always pass.
* A record that does not decode is counted (``undecodable``), logged and skipped, except
  a Confluent-framed one while no Schema Registry is configured: that is the bank's
  setup, so reading stops with :class:`~streams.errors.ConfigError` and the record stays
  unconfirmed (read again once the registry is configured). A consumer error the bank
  must act on (authorization, a missing topic, a fatal error) raises
  :class:`~streams.sdk.subscriber.checks.SubscriberError`.

Why this is exactly-once for the bank: Kafka gives at-least-once (a crash between
handling a record and committing its offset redelivers it; the exchange may itself
re-send a version after a failover). The reader therefore commits in this order: an
item counts as handled once the caller asks for the next one (or the iterator ends);
the versions of handled items are written to the local ledger file (``state_path``,
sqlite3, durable on commit) FIRST, and only then are their offsets committed. A crash
before the ledger write redelivers items the bank had not finished (at-least-once); a
crash between the ledger write and the offset commit redelivers items the ledger
already holds, and they are dropped (then-dedup). Leaving the loop early (``break``, an
exception) does not count the item you left on: it is delivered again by the next
``read`` or after a restart. Run one consuming process per ``state_path``.

``from_beginning=True`` reads the whole retained feed by manual assignment without
joining or committing anything (a private look); its dedup ledger then lives in memory
for that reading only. ``state_path`` is required to read in the group mode only.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    TopicPartition,
)

from streams.errors import ConfigError, DecodeError
from streams.sdk.subscriber.checks import SubscriberError
from streams.sdk.subscriber.items import FeedItem, to_feed_item
from streams.sdk.subscriber.ledger import LedgerStore, VersionLedger
from streams.sdk.subscriber.requests import topic_partitions
from streams.wire.codec import CONFLUENT_MAGIC, SniffingCodec
from streams.wire.schemas import FEED_RECORD

log = logging.getLogger(__name__)
_FATAL_CONSUMER_ERRORS = {
    KafkaError.TOPIC_AUTHORIZATION_FAILED,
    KafkaError.GROUP_AUTHORIZATION_FAILED,
    KafkaError.UNKNOWN_TOPIC_OR_PART,
    KafkaError._AUTHENTICATION,
}


class FeedReader:
    """Read one bank's feed, ledger first, offsets second (see the module docstring)."""

    def __init__(
        self,
        bank: str,
        topic: str,
        group: str,
        conf: dict[str, Any],
        codec: SniffingCodec,
        *,
        state_path: Path | None,
        from_beginning: bool,
        commit_every: int,
    ) -> None:
        self.bank, self.topic, self.group, self.codec = bank, topic, group, codec
        self.from_beginning, self.commit_every = from_beginning, commit_every
        self._conf = conf
        self._consumer: Consumer | None = None
        self.closed = False
        self.dropped = 0
        self.undecodable = 0
        self._store: LedgerStore | None = None
        if state_path is not None and not from_beginning:
            self._store = LedgerStore(state_path, bank)
        self.ledger = VersionLedger(self._store.load() if self._store else None)
        self._confirmed: dict[tuple[str, int], int] = {}  # next offset per partition
        self._since_flush = 0
        self._assigned: set[tuple[str, int]] = set()

    def read(
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
            if not self.closed:
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
            raise SubscriberError(f"cannot read {self.topic}: {err.name()}: {err.str()}")
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
        if self.closed:
            raise SubscriberError(f"the subscriber of {self.bank} is closed")
        if self._consumer is not None:
            return self._consumer
        if self._store is None and not self.from_beginning:
            raise ConfigError(
                "feed() needs state_path: the applied versions must outlive the process"
            )
        partitions = topic_partitions(self._conf, self.topic, self.bank)
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
            consumer.assign([TopicPartition(self.topic, p, OFFSET_BEGINNING) for p in partitions])
            self._assigned = {(self.topic, p) for p in partitions}
        else:
            consumer.subscribe([self.topic], on_assign=self._on_assign, on_revoke=self._on_revoke)
        self._consumer = consumer
        return consumer

    def _on_assign(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._assigned |= {(tp.topic, tp.partition) for tp in partitions}

    def _on_revoke(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # Called inside poll, never while an item is out with the caller: all confirmed.
        self._flush()
        self._assigned -= {(tp.topic, tp.partition) for tp in partitions}

    def close(self) -> None:
        """Save the ledger, commit, release the consumer and the ledger file."""
        try:
            if self._consumer is not None:
                self._flush()
                self._consumer.close()
        finally:
            self._consumer = None
            if self._store is not None:
                self._store.close()
            self.closed = True

"""The bank's client: subscribe/revoke borrowers and consume the feed, for one bank.

Contract of :class:`BankSubscriber` (one per bank, used as a context manager):

* ``subscribe``/``revoke`` check the request locally (purpose from the fixed list, a
  timezone-aware expiry in the future, non-empty references, then the exchange's
  national-ID and reference rules, :func:`~streams.sdk.subscriber.checks.check_identity`;
  errors never echo the national ID) and queue a ``Subscription`` keyed by
  ``customer_ref`` on ``banks.<bank>.subscriptions`` with an idempotent producer
  (``acks=all``, :class:`~streams.sdk.subscriber.requests.RequestSender`). Outcomes
  arrive through ``on_delivery``; leaving the ``with`` block flushes and raises
  :class:`~streams.sdk.producer.DeliveryError` if any request was not delivered.
* ``feed`` reads ``banks.<bank>.feed`` in the consumer group ``<bank>.feed`` by default
  (inside the bank's ACL group prefix ``<bank>.``) and yields feed items deduplicated
  and in version order per customer_ref, exactly once per version given a ledger file
  (``state_path``): :class:`~streams.sdk.subscriber.feed.FeedReader` says how.
  ``from_beginning=True`` (e.g. ``creditstream feed --from-beginning``) is a private
  look at the whole retained feed that joins no group and commits nothing.
  ``state_path`` is required for ``feed`` in the group mode only: requests need none.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from types import TracebackType

from streams import topics
from streams.clock import now_ms
from streams.errors import ConfigError
from streams.runtime.registry import codec_for
from streams.sdk.producer import DeliveryError, DeliveryReport
from streams.sdk.subscriber.checks import SubscriberError, check_identity, check_request
from streams.sdk.subscriber.feed import FeedReader
from streams.sdk.subscriber.items import FeedItem
from streams.sdk.subscriber.ledger import VersionLedger
from streams.sdk.subscriber.requests import RequestSender
from streams.settings import KafkaConf, Settings
from streams.wire.codec import SniffingCodec


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
        conf = dict(settings.kafka_client_config()) | dict(extra_config or {})
        self._clock = clock
        self._requests = RequestSender(
            bank, self.subscriptions_topic, conf, self.codec, on_delivery
        )
        self._closed = False
        # The ledger file is opened here (not at the first feed) so a wrong file fails
        # early; requests alone (subscribe/revoke) need none.
        self._feed = FeedReader(
            bank,
            self.feed_topic,
            self.group,
            conf,
            self.codec,
            state_path=None if state_path is None else Path(state_path),
            from_beginning=from_beginning,
            commit_every=commit_every,
        )

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
        return self._feed.read(timeout, limit=limit, stop_at_end=stop_at_end)

    @property
    def ledger(self) -> VersionLedger:
        """The last applied profile version per customer_ref."""
        return self._feed.ledger

    @property
    def dropped(self) -> int:
        """Feed items dropped as duplicates or older versions."""
        return self._feed.dropped

    @property
    def undecodable(self) -> int:
        """Feed records skipped because they did not decode."""
        return self._feed.undecodable

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
            self._feed.close()
        finally:
            self._closed = True
        if raise_errors and (undelivered or self.failed):
            raise DeliveryError(self.failed, undelivered)

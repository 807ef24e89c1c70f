"""The bank SDK: subscribe/revoke borrowers, consume the feed exactly once per version.

The package's public API is the names below; import them from here::

    from streams.sdk.subscriber import BankSubscriber

    with BankSubscriber("nordbank", settings, state_path="nordbank.ledger") as bank:
        bank.subscribe(national_id, "cust-1", "CONS-1", "CREDIT_APPLICATION", expires_at)
        for item in bank.feed():   # FeedItems, deduplicated, in version order
            ...

Its modules, by concept: ``client`` (:class:`BankSubscriber`), ``requests`` (the
Subscription records it sends), ``feed`` (how the feed is read exactly once per
version), ``ledger`` (the applied versions and their file), ``items`` (what the feed
hands out) and ``checks`` (what is refused before sending, and :class:`SubscriberError`).
"""

from streams.sdk.subscriber.checks import (
    SubscriberError,
    check_identity,
    check_request,
    purposes,
)
from streams.sdk.subscriber.client import BankSubscriber
from streams.sdk.subscriber.items import Alert, FeedItem, profile_of

__all__ = [
    "Alert",
    "BankSubscriber",
    "FeedItem",
    "SubscriberError",
    "check_identity",
    "check_request",
    "profile_of",
    "purposes",
]

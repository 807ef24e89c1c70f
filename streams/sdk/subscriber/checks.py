"""What the bank SDK checks before sending a request, and how it refuses (pure).

Contract: :class:`SubscriberError` is the root of the bank SDK's errors (a refused
request, an unreadable feed). :func:`check_request` checks a subscription request's
shape (non-empty references, a purpose from the shipped ``Purpose`` enum, see
:func:`purposes`, a timezone-aware expiry) and :func:`check_identity` the exchange's
own rules on the national ID and the references, so a request the exchange would
refuse is refused here at once. Messages name the field, never the value: a national
ID must not end up in a log.
"""

from __future__ import annotations

from datetime import datetime

from streams.domain.privacy import is_valid_national_id, normalize_national_id
from streams.errors import CreditstreamError
from streams.wire.schemas import load_schemas

PURPOSE_SCHEMA = "io.creditstream.Purpose"


class SubscriberError(CreditstreamError):
    """Root of the bank SDK's errors (a refused request, an unreadable feed)."""


def purposes() -> tuple[str, ...]:
    """The permissible purposes, from the shipped ``Purpose`` enum."""
    return tuple(load_schemas().info(PURPOSE_SCHEMA).resolved["symbols"])


def check_request(
    national_id: str,
    customer_ref: str,
    consent_ref: str,
    purpose: str,
    expires_at: datetime | None,
) -> int:
    """Raise SubscriberError for a malformed request; return the expiry in epoch ms
    (0 when ``expires_at`` is None)."""
    for name, value in (
        ("national_id", national_id),
        ("customer_ref", customer_ref),
        ("consent_ref", consent_ref),
    ):
        if not isinstance(value, str) or not value.strip():
            raise SubscriberError(f"{name} must be a non-empty string")
    if purpose not in purposes():
        raise SubscriberError(f"purpose must be one of {', '.join(purposes())}")
    if expires_at is None:
        return 0
    if expires_at.tzinfo is None:
        raise SubscriberError("expires_at must be timezone-aware (e.g. UTC)")
    return int(expires_at.timestamp() * 1000)


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

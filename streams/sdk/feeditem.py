"""What the bank SDK hands out and checks: feed items, alerts, request validation (pure).

A :class:`FeedItem` is a decoded ``FeedRecord`` in Python terms: times as aware UTC
datetimes, the profile parsed from its JSON. :func:`check_request` validates a
subscription request before anything is sent; its messages name the field, never the
value (a national ID must not end up in a log).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from streams.errors import CreditstreamError
from streams.wire.schemas import load_schemas

PURPOSE_SCHEMA = "io.creditstream.Purpose"


class SubscriberError(CreditstreamError):
    """Root of the bank SDK's errors (a refused request, an unreadable feed)."""


def purposes() -> tuple[str, ...]:
    """The permissible purposes, from the shipped ``Purpose`` enum."""
    return tuple(load_schemas().info(PURPOSE_SCHEMA).resolved["symbols"])


@dataclass(frozen=True, slots=True)
class Alert:
    kind: str
    reason: str


@dataclass(frozen=True, slots=True)
class FeedItem:
    """One feed record as the bank sees it; ``partition``/``offset`` say where it was."""

    customer_ref: str
    profile_version: int
    kind: str
    produced_at: datetime
    ingested_at: datetime | None
    profile: dict[str, Any] | None
    alerts: tuple[Alert, ...]
    message: str | None
    partition: int = -1
    offset: int = -1


def _utc(value: Any) -> datetime | None:
    """fastavro gives aware datetimes for timestamp-millis; accept epoch ms too."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    return datetime.fromtimestamp(int(value) / 1000, UTC)


def to_feed_item(datum: dict[str, Any], partition: int = -1, offset: int = -1) -> FeedItem:
    """A decoded FeedRecord datum as a FeedItem (a profile that is not JSON becomes None)."""
    profile: dict[str, Any] | None = None
    if datum.get("profile"):
        try:
            parsed = json.loads(datum["profile"])
        except json.JSONDecodeError:
            parsed = None
        profile = parsed if isinstance(parsed, dict) else None
    produced = _utc(datum["produced_at"])
    assert produced is not None  # a required field of the schema
    return FeedItem(
        customer_ref=datum["customer_ref"],
        profile_version=int(datum["profile_version"]),
        kind=datum["kind"],
        produced_at=produced,
        ingested_at=_utc(datum.get("ingested_at")),
        profile=profile,
        alerts=tuple(Alert(a["kind"], a["reason"]) for a in datum.get("alerts") or ()),
        message=datum.get("message"),
        partition=partition,
        offset=offset,
    )


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

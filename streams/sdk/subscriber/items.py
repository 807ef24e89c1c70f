"""What the bank SDK hands out: feed items and their alerts (pure).

A :class:`FeedItem` is a decoded ``FeedRecord`` in Python terms: times as aware UTC
datetimes, the profile parsed from its JSON (None when there is none or it is not a
JSON object), the alerts as :class:`Alert` values, and where the record was read
(``partition``/``offset``, -1 when not read from Kafka). :func:`to_feed_item` builds
one from the datum the codec decodes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


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

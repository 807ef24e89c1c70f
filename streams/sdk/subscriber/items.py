"""What the bank SDK hands out: feed items and their alerts (pure).

A :class:`FeedItem` is a decoded ``FeedRecord`` in Python terms: times as aware UTC
datetimes, the profile as :func:`profile_of` gives it (None when there is none), the
alerts as :class:`Alert` values, and where the record was read (``partition``/
``offset``, -1 when not read from Kafka). :func:`to_feed_item` builds one from the
datum the codec decodes.

:func:`profile_of` is the profile in the JSON convention of ``schemas/examples`` (decimal
amounts as strings, times as ISO-8601 UTC), whichever way the record carried it: the
``BorrowerProfile`` record the exchange writes, its objections (``FeedRecord.disputed``)
under ``"disputed"`` when there are any, or the JSON string of releases up to 0.1.0.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from streams.clock import iso_ms
from streams.domain.validation import to_epoch_ms
from streams.wire.avrojson import datum_to_json


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


def profile_of(datum: dict[str, Any]) -> dict[str, Any] | None:
    """The profile of a decoded FeedRecord datum (see the module doc); None when it has
    none, or carries a JSON string that is not an object."""
    profile = datum.get("profile")
    if isinstance(profile, dict):
        out: dict[str, Any] = datum_to_json(profile)
        marks = datum.get("disputed") or []
        if marks:
            out["disputed"] = [
                {
                    "dispute_id": m["dispute_id"],
                    "platform": m["platform"],
                    "status": m["status"],
                    "since": iso_ms(to_epoch_ms(m["since"])),
                }
                for m in marks
            ]
        return out
    if not profile:
        return None
    try:
        parsed = json.loads(profile)
    except json.JSONDecodeError:
        return None
    return parsed if isinstance(parsed, dict) else None


def to_feed_item(datum: dict[str, Any], partition: int = -1, offset: int = -1) -> FeedItem:
    """A decoded FeedRecord datum as a FeedItem."""
    profile = profile_of(datum)
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

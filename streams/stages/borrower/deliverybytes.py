"""``FeedRecord`` and ``AuditRecord`` values written by hand (pure), checked against the codec.

The borrower stage writes one feed record and one audit record per data delivery;
through the generic codec (fastavro's writer, dispatching on type names per field) they
were the largest share of its encoding time. Both records are flat: strings, longs,
two enums, ``["null", long|string]`` unions and the alerts array, so their bodies are
written here from the datums ``streams.domain.delivery`` and ``streams.domain.audit``
build, with the codec's own header (single-object fingerprint or Confluent id, learned
from one real encode each). At construction both writers are compared byte for byte
with the codec on sample datums covering every union branch; if any differs (a schema
changed), :attr:`DeliveryEncoder.hand_written` is False and every value goes through
the codec: slower, never wrong. The stage exports which path runs
(``creditstream_fast_path{part="deliveries"}``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from streams.wire.binary import EMPTY, SOME, long_, string
from streams.wire.codec import SINGLE_OBJECT_MAGIC, SniffingCodec
from streams.wire.schemas import AUDIT_RECORD, FEED_RECORD

log = logging.getLogger(__name__)

#: The field layout the writers produce, as ``(name, type)`` in schema order.
FEED_LAYOUT = (
    ("customer_ref", "string"),
    ("profile_version", "long"),
    ("kind", "enum"),
    ("produced_at", "long"),
    ("ingested_at", "null|long"),
    ("profile", "null|string"),
    ("alerts", "array"),
    ("message", "null|string"),
)
AUDIT_LAYOUT = (
    ("bank", "string"),
    ("borrower_id", "string"),
    ("customer_ref", "string"),
    ("profile_version", "long"),
    ("purpose", "enum"),
    ("consent_ref", "string"),
    ("delivered_at", "long"),
    ("feed_topic", "string"),
    ("prev_hash", "string"),
    ("hash", "string"),
)


def _layout(schema: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    out = []
    for f in schema["fields"]:
        typ = f["type"]
        if isinstance(typ, list):
            kinds = "|".join(t if isinstance(t, str) else str(t["type"]) for t in typ)
        elif isinstance(typ, dict):
            kinds = str(typ["type"])
        else:
            kinds = str(typ)
        out.append((str(f["name"]), kinds))
    return tuple(out)


def _symbols(schema: Mapping[str, Any], field: str) -> dict[str, bytes]:
    (f,) = (f for f in schema["fields"] if f["name"] == field)
    return {s: long_(i) for i, s in enumerate(f["type"]["symbols"])}


def _opt_string(s: str | None) -> bytes:
    return EMPTY if s is None else SOME + string(s)


def _header_len(encoded: bytes) -> int:
    return 10 if encoded.startswith(SINGLE_OBJECT_MAGIC) else 5


class DeliveryEncoder:
    """Encodes feed and audit records with ``codec``'s wire format (see module doc)."""

    def __init__(self, codec: SniffingCodec) -> None:
        self.codec = codec
        schemas = codec.single.schemas
        feed, audit = schemas.info(FEED_RECORD).resolved, schemas.info(AUDIT_RECORD).resolved
        self.hand_written = False
        self._feed_header = self._audit_header = b""
        self._kinds: dict[str, bytes] = {}
        self._purposes: dict[str, bytes] = {}
        if _layout(feed) != FEED_LAYOUT or _layout(audit) != AUDIT_LAYOUT:
            log.warning("feed/audit schemas differ from %s: using the codec", __name__)
            return
        self._kinds, self._purposes = _symbols(feed, "kind"), _symbols(audit, "purpose")
        samples = _feed_samples(next(iter(self._kinds)))
        first = codec.encode(FEED_RECORD, samples[0])
        self._feed_header = first[: _header_len(first)]
        audit_sample = _audit_sample(next(iter(self._purposes)))
        sealed = codec.encode(AUDIT_RECORD, audit_sample)
        self._audit_header = sealed[: _header_len(sealed)]
        self.hand_written = True
        self.hand_written = (
            all(self.feed(s) == codec.encode(FEED_RECORD, s) for s in samples)
            and self.audit(audit_sample) == sealed
        )
        if not self.hand_written:
            log.warning("feed/audit bytes differ from the codec's: using the codec")

    def feed(self, r: Mapping[str, Any]) -> bytes:
        """The encoded ``io.creditstream.FeedRecord`` datum ``r`` (times as epoch ms)."""
        if not self.hand_written:
            return self.codec.encode(FEED_RECORD, dict(r))
        ingested = r["ingested_at"]
        parts = [
            self._feed_header,
            string(r["customer_ref"]),
            long_(r["profile_version"]),
            self._kinds[r["kind"]],
            long_(r["produced_at"]),
            EMPTY if ingested is None else SOME + long_(ingested),
            _opt_string(r["profile"]),
        ]
        alerts = r["alerts"]
        if alerts:
            parts.append(long_(len(alerts)))
            for a in alerts:
                parts.append(string(a["kind"]))
                parts.append(string(a["reason"]))
        parts.append(EMPTY)
        parts.append(_opt_string(r["message"]))
        return b"".join(parts)

    def audit(self, d: Mapping[str, Any]) -> bytes:
        """The encoded ``io.creditstream.AuditRecord`` datum ``d`` (sealed)."""
        if not self.hand_written:
            return self.codec.encode(AUDIT_RECORD, dict(d))
        return b"".join(
            (
                self._audit_header,
                string(d["bank"]),
                string(d["borrower_id"]),
                string(d["customer_ref"]),
                long_(d["profile_version"]),
                self._purposes[d["purpose"]],
                string(d["consent_ref"]),
                long_(d["delivered_at"]),
                string(d["feed_topic"]),
                string(d["prev_hash"]),
                string(d["hash"]),
            )
        )


def _feed_samples(kind: str) -> list[dict[str, Any]]:
    """Datums covering every branch: optional fields set and unset, alerts or none,
    long and non-ASCII strings, a large version and negative-free times."""
    base = {
        "customer_ref": "ref-\u00e9-" + "x" * 200,
        "profile_version": 123_456_789_012,
        "kind": kind,
        "produced_at": 1_700_000_000_123,
        "ingested_at": 1_699_999_999_000,
        "profile": '{"a":"\u00fc"}' * 20,
        "alerts": [{"kind": "new_loan", "reason": "r\u00e9"}, {"kind": "k", "reason": ""}],
        "message": "subscribed until 2030-01-01T00:00:00Z",
    }
    bare = base | {"ingested_at": None, "profile": None, "alerts": [], "message": None}
    return [base, bare, base | {"profile_version": 0, "customer_ref": ""}]


def _audit_sample(purpose: str) -> dict[str, Any]:
    return {
        "bank": "bank-\u00e9",
        "borrower_id": "b" * 64,
        "customer_ref": "ref-" + "y" * 300,
        "profile_version": 99_999_999_999,
        "purpose": purpose,
        "consent_ref": "c\u00e9",
        "delivered_at": 1_700_000_000_123,
        "feed_topic": "banks.bank.feed",
        "prev_hash": "0" * 64,
        "hash": "f" * 64,
    }

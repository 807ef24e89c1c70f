"""``FeedRecord`` and ``AuditRecord`` values written by hand (pure), checked against the codec.

The borrower stage writes one feed record and one audit record per data delivery;
through the generic codec (fastavro's writer, dispatching on type names per field) they
were the largest share of its encoding time. Their fields are strings, longs, two
enums, ``["null", ...]`` unions and two arrays, plus the feed's profile: a
``BorrowerProfile`` record, whose Avro body is the one the stage's
:class:`~streams.stages.borrower.records.OutputEncoder` writes for exchange.profiles
(taken from the fold when it has it, ``FeedView.encoded``, else written once per
``FeedView``: every bank's record of a change shares it). So the bodies are written
here from the datums ``streams.domain.delivery`` and ``streams.domain.audit`` build,
with the codec's own header (single-object fingerprint or Confluent id, learned from
one real encode each). At construction both writers are compared byte for byte with
the codec on sample datums covering every union branch; if any differs (a schema
changed), :attr:`DeliveryEncoder.hand_written` is False and every value goes through
the codec: slower, never wrong. The stage exports which path runs
(``creditstream_fast_path{part="deliveries"}``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from streams.domain.delivery import FeedView
from streams.domain.profile.model import view_to_profile
from streams.domain.profile.output import profile_to_avro
from streams.domain.rights import Mark
from streams.stages.borrower.records import OutputEncoder, sample_view
from streams.wire.binary import EMPTY, SOME, long_, string
from streams.wire.codec import SINGLE_OBJECT_MAGIC, SniffingCodec
from streams.wire.schemas import AUDIT_RECORD, FEED_RECORD, NAMESPACE

#: The union branch of ``FeedRecord.profile`` the exchange writes: the record (index 2).
PROFILE_RECORD = long_(2)

log = logging.getLogger(__name__)

#: The field layout the writers produce, as ``(name, type)`` in schema order.
FEED_LAYOUT = (
    ("customer_ref", "string"),
    ("profile_version", "long"),
    ("kind", "enum"),
    ("produced_at", "long"),
    ("ingested_at", "null|long"),
    ("profile", "null|string|record"),
    ("alerts", "array"),
    ("message", "null|string"),
    ("disputed", "array"),
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

    def __init__(self, codec: SniffingCodec, profiles: OutputEncoder) -> None:
        self.codec = codec
        self.profiles = profiles
        schemas = codec.single.schemas
        feed, audit = schemas.info(FEED_RECORD).resolved, schemas.info(AUDIT_RECORD).resolved
        self.hand_written = False
        self._feed_header = self._audit_header = b""
        self._kinds: dict[str, bytes] = {}
        self._purposes: dict[str, bytes] = {}
        statuses = schemas.info(f"{NAMESPACE}.DisputeStatus").resolved["symbols"]
        self._statuses = {s: long_(i) for i, s in enumerate(statuses)}
        if _layout(feed) != FEED_LAYOUT or _layout(audit) != AUDIT_LAYOUT:
            log.warning("feed/audit schemas differ from %s: using the codec", __name__)
            return
        self._kinds, self._purposes = _symbols(feed, "kind"), _symbols(audit, "purpose")
        samples = _feed_samples(next(iter(self._kinds)), profiles)
        first = codec.encode(FEED_RECORD, self.datum(samples[0]))
        self._feed_header = first[: _header_len(first)]
        audit_sample = _audit_sample(next(iter(self._purposes)))
        sealed = codec.encode(AUDIT_RECORD, audit_sample)
        self._audit_header = sealed[: _header_len(sealed)]
        self.hand_written = profiles.hand_written
        self.hand_written = self.hand_written and (
            all(self.feed(s) == codec.encode(FEED_RECORD, self.datum(s)) for s in samples)
            and self.audit(audit_sample) == sealed
        )
        if not self.hand_written:
            log.warning("feed/audit bytes differ from the codec's: using the codec")

    def feed(self, r: Mapping[str, Any]) -> bytes:
        """The encoded ``io.creditstream.FeedRecord`` datum ``r`` (times as epoch ms, the
        profile a :class:`~streams.domain.delivery.FeedView` or None)."""
        if not self.hand_written:
            return self.codec.encode(FEED_RECORD, self.datum(r))
        ingested = r["ingested_at"]
        fv: FeedView | None = r["profile"]
        parts = [
            self._feed_header,
            string(r["customer_ref"]),
            long_(r["profile_version"]),
            self._kinds[r["kind"]],
            long_(r["produced_at"]),
            EMPTY if ingested is None else SOME + long_(ingested),
        ]
        if fv is None:
            parts.append(EMPTY)
        else:
            body = fv.encoded
            if body is None:
                body = fv.encoded = self.profiles.body_of(self.profiles.profile(fv.view))
            parts.append(PROFILE_RECORD)
            parts.append(body)
        alerts = r["alerts"]
        if alerts:
            parts.append(long_(len(alerts)))
            for a in alerts:
                parts.append(string(a["kind"]))
                parts.append(string(a["reason"]))
        parts.append(EMPTY)
        parts.append(_opt_string(r["message"]))
        if fv is not None and fv.marks:
            parts.append(long_(len(fv.marks)))
            for m in fv.marks:
                parts += (string(m.dispute_id), string(m.platform), self._statuses[m.status])
                parts.append(long_(m.since_ms))
        parts.append(EMPTY)
        return b"".join(parts)

    def datum(self, r: Mapping[str, Any]) -> dict[str, Any]:
        """``r`` as the codec takes it: the profile as a ``BorrowerProfile`` datum and its
        marks as ``disputed`` (the reference of :meth:`feed`, and its slow path)."""
        out = dict(r)
        fv: FeedView | None = r["profile"]
        if fv is not None:
            profile = view_to_profile("", fv.view, self.profiles.config)
            out["profile"] = profile_to_avro(profile)
            out["disputed"] = [mark_datum(m) for m in fv.marks]
        return out

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


def mark_datum(m: Mark) -> dict[str, Any]:
    """A ``DisputeMark`` datum (``since`` as epoch ms)."""
    return {
        "dispute_id": m.dispute_id,
        "platform": m.platform,
        "status": m.status,
        "since": m.since_ms,
    }


def _feed_samples(kind: str, profiles: OutputEncoder) -> list[dict[str, Any]]:
    """Datums covering every branch: optional fields set and unset, alerts or none,
    marks or none, long and non-ASCII strings, a large version and negative-free times."""
    marks = (
        Mark("d-\u00e9" + "1" * 150, "p\u00e9", "OPEN", 1_700_000_000_000),
        Mark("d-2", "p", "NOT_VERIFIED", 0),
    )
    view = sample_view(profiles.config)
    base = {
        "customer_ref": "ref-\u00e9-" + "x" * 200,
        "profile_version": 123_456_789_012,
        "kind": kind,
        "produced_at": 1_700_000_000_123,
        "ingested_at": 1_699_999_999_000,
        "profile": FeedView(view, marks, profiles.config),
        "alerts": [{"kind": "new_loan", "reason": "r\u00e9"}, {"kind": "k", "reason": ""}],
        "message": "subscribed until 2030-01-01T00:00:00Z",
    }
    bare = base | {"ingested_at": None, "profile": None, "alerts": [], "message": None}
    small = FeedView(sample_view(profiles.config, large=False), (), profiles.config)
    return [base, bare, base | {"profile_version": 0, "customer_ref": "", "profile": small}]


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

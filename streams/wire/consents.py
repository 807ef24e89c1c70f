"""The ``exchange.consents`` record: a validated, pseudonymized subscription request.

Encoding (internal to the exchange, written by the consent stage, read by the borrower stage):
UTF-8 compact JSON of one object, keyed on the topic by ``borrower_id``::

    {"f": 1, "bank": "bank-a", "borrower_id": "<64 hex>", "key_version": 1,
     "customer_ref": "c-17", "action": "SUBSCRIBE", "consent_ref": "cons-9",
     "purpose": "CREDIT_APPLICATION", "expires_at": 1767225600000,
     "requested_at": 1764547200000}

``f`` is the format version (readers refuse others); times are epoch ms; ``purpose`` is
null on REVOKE. JSON rather than Avro because nothing outside the exchange reads it and
an operator can read it with any console consumer. It never holds a national ID: the
consent stage pseudonymizes before anything leaves it (``streams.domain.consent.parse_request``).
Pure: no Kafka import.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Purpose(StrEnum):
    """Permissible purposes (Avro enum ``io.creditstream.Purpose``)."""

    CREDIT_APPLICATION = "CREDIT_APPLICATION"
    ACCOUNT_REVIEW = "ACCOUNT_REVIEW"
    COLLECTIONS = "COLLECTIONS"
    FRAUD_PREVENTION = "FRAUD_PREVENTION"


class Action(StrEnum):
    """Avro enum ``io.creditstream.SubscriptionAction``."""

    SUBSCRIBE = "SUBSCRIBE"
    REVOKE = "REVOKE"


@dataclass(frozen=True, slots=True)
class ConsentRequest:
    """A validated, pseudonymized request; no raw national ID. ``purpose``,
    ``consent_ref`` and ``expires_at_ms`` are meaningful on SUBSCRIBE only."""

    bank: str
    borrower_id: str
    key_version: int
    customer_ref: str
    action: Action
    consent_ref: str
    purpose: Purpose | None
    expires_at_ms: int
    requested_at_ms: int


FORMAT = 1


def encode_request(req: ConsentRequest) -> bytes:
    """The topic value of ``req`` (see the module docstring)."""
    body: dict[str, Any] = {
        "f": FORMAT,
        "bank": req.bank,
        "borrower_id": req.borrower_id,
        "key_version": req.key_version,
        "customer_ref": req.customer_ref,
        "action": str(req.action),
        "consent_ref": req.consent_ref,
        "purpose": None if req.purpose is None else str(req.purpose),
        "expires_at": req.expires_at_ms,
        "requested_at": req.requested_at_ms,
    }
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def decode_request(data: bytes) -> ConsentRequest:
    """Inverse of :func:`encode_request`; ``ValueError`` on anything else."""
    try:
        body = json.loads(data)
        if not isinstance(body, dict) or body.get("f") != FORMAT:
            raise ValueError("not a consent request of a known format")
        purpose = body["purpose"]
        return ConsentRequest(
            bank=str(body["bank"]),
            borrower_id=str(body["borrower_id"]),
            key_version=int(body["key_version"]),
            customer_ref=str(body["customer_ref"]),
            action=Action(body["action"]),
            consent_ref=str(body["consent_ref"]),
            purpose=None if purpose is None else Purpose(purpose),
            expires_at_ms=int(body["expires_at"]),
            requested_at_ms=int(body["requested_at"]),
        )
    except (KeyError, TypeError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"malformed consent request: {type(exc).__name__}") from None

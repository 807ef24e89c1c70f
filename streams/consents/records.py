"""The ``exchange.consents`` record: a validated, pseudonymized subscription request.

Encoding (internal to the exchange, written by the consent stage, read by the fan-out):
UTF-8 compact JSON of one object, keyed on the topic by ``borrower_id``::

    {"f": 1, "bank": "bank-a", "borrower_id": "<64 hex>", "key_version": 1,
     "customer_ref": "c-17", "action": "SUBSCRIBE", "consent_ref": "cons-9",
     "purpose": "CREDIT_APPLICATION", "expires_at": 1767225600000,
     "requested_at": 1764547200000}

``f`` is the format version (readers refuse others); times are epoch ms; ``purpose`` is
null on REVOKE. JSON rather than Avro because nothing outside the exchange reads it and
an operator can read it with any console consumer. It never holds a national ID: the
consent stage pseudonymizes before anything leaves it (``streams.consent.parse_request``).
Pure: no Kafka import.
"""

from __future__ import annotations

import json
from typing import Any

from streams.consent import Action, ConsentRequest, Purpose

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

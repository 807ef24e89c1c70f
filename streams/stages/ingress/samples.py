"""What the hand-written ingress transcoder is checked against at start-up (pure).

``streams.stages.ingress.transcode.Transcoder`` is used only if it reads these platform
records exactly as the generic path does and writes the same ``ExchangeEvent`` bytes:
a loan correction with every optional field set, a loan without them, an activity
event, and one with multi-byte lengths and numbers everywhere they can be.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from streams.domain.privacy import Pseudonymizer
from streams.domain.validation import ValidationLimits, to_avro, to_epoch_ms, to_exchange_event
from streams.wire.codec import SniffingCodec
from streams.wire.events import ExchangeEvent
from streams.wire.schemas import ACTIVITY_EVENT, EXCHANGE_EVENT, LOAN_EVENT

_T = 1_700_000_000_123
_KEY = Pseudonymizer({3: "start-up-sample-key-not-a-secret"}, 3)
#: Wide enough for the long sample (its texts, its days past due, its old time).
_LIMITS = ValidationLimits(max_text_length=1000, retention_ms=1 << 62)


def samples() -> list[tuple[str, dict[str, Any]]]:
    """``(schema name, datum)`` of valid platform records covering every branch."""
    common = {"occurred_at": _T, "currency": "EUR"}
    correction = {
        **common,
        "event_id": "e2",
        "user_key": "u1",
        "national_id": "AB 123-456",
        "loan_id": "L1",
        "lender": "Lender \u00e9",
        "product": "BNPL",
        "type": "CORRECTION",
        "amount": Decimal("1.00"),
        "principal_outstanding": Decimal("1234567.89"),
        "days_past_due": 12,
        "due_date": date(2024, 2, 29),
        "term_months": 6,
        "corrects_event_id": "e0",
    }
    plain = correction | {
        "type": "REPAYMENT",
        "amount": Decimal("0.00"),
        "due_date": None,
        "term_months": None,
        "corrects_event_id": None,
    }
    long = correction | {
        "event_id": "e" * 100,
        "occurred_at": 1 << 40,
        "user_key": "u" * 130,
        "national_id": "N" * 32,
        "loan_id": "L" * 200,
        "lender": "\u00e9" * 70,
        "product": "SME",
        "amount": Decimal("9999999999999999.99"),
        "principal_outstanding": Decimal("128.00"),
        "days_past_due": 3000,
        "due_date": date(2300, 1, 1),
        "term_months": 600,
        "corrects_event_id": "c" * 300,
    }
    activity = {
        **common,
        "event_id": "e3",
        "user_key": "u2",
        "national_id": "CD654321",
        "kind": "TRAVEL_BOOKING",
        "amount": Decimal("0.05"),
        "category": "x" * 70,
    }
    return [
        (LOAN_EVENT, correction),
        (LOAN_EVENT, plain),
        (LOAN_EVENT, long),
        (ACTIVITY_EVENT, activity),
    ]


def generic(codec: SniffingCodec, raw: bytes) -> tuple[str, dict[str, Any], tuple[bytes, Any]]:
    """What the generic path makes of ``raw``: its schema, its datum (times as epoch ms,
    as the transcoder reads them), and the ``ExchangeEvent`` record with its event."""
    schema, datum = codec.decode(raw)
    datum = {**datum, "occurred_at": to_epoch_ms(datum["occurred_at"])}
    now = datum["occurred_at"] + 1
    event: ExchangeEvent = to_exchange_event("p1", schema, datum, _KEY, now, now + 7, _LIMITS)
    return schema, datum, (codec.encode(EXCHANGE_EVENT, to_avro(event)), event)

"""What the hand-written exchange.events decoder is checked against at start-up (pure).

``streams.stages.borrower.events.EventDecoder`` reads records by hand only when the schema has
exactly the layout it reads (:data:`SHAPE`, compared with ``wire.schemas.shape`` of the resolved
schema) and when it reads these sample events exactly as the generic path does: a loan
correction with every optional field set, an activity event, and one with multi-byte
lengths and numbers everywhere they can be.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from streams.wire.events import (
    ActivityFacts,
    ActivityKind,
    ExchangeEvent,
    LoanEventType,
    LoanFacts,
    Product,
)

#: What ``events._read_event`` reads, in order (``shape`` of the stripped schema): the
#: decoder is used only for a schema of exactly this shape.
SHAPE = (
    "{string string string int long:timestamp-millis long:timestamp-millis "
    "[null {string string enum enum bytes:decimal/2 string bytes:decimal/2 int "
    "[null int:date] [null int] [null string]}] "
    "[null {enum bytes:decimal/2 string string}]}"
)


def enum_symbols(schema: Any, field: str) -> tuple[str, ...]:
    """Symbols of the enum ``field`` of the record in the second branch of ``schema``."""
    (f,) = (f for f in schema[1]["fields"] if f["name"] == field)
    return tuple(f["type"]["symbols"])


def sample_loan() -> ExchangeEvent:
    facts = LoanFacts(
        "L1",
        "Lender \u00e9",
        Product.BNPL,
        LoanEventType.CORRECTION,
        Decimal("1.00"),
        "EUR",
        Decimal("-1234567.89"),
        12,
        date(2024, 2, 29),
        6,
        "e0",
    )
    return ExchangeEvent("e1", "p1", "b" * 64, 1, 1_700_000_000_123, 1_700_000_000_456, facts)


def sample_activity() -> ExchangeEvent:
    act = ActivityFacts(ActivityKind.TRAVEL_BOOKING, Decimal("0.05"), "JPY", "x")
    return ExchangeEvent("e2", "p2", "c" * 64, 2, -1, 0, activity=act)


def sample_long() -> ExchangeEvent:
    """Multi-byte lengths and numbers everywhere they can be."""
    facts = LoanFacts(
        "L" * 200,
        "\u00e9" * 70,
        Product.SME,
        LoanEventType.REPAYMENT,
        Decimal("9999999999999999.99"),
        "EUR",
        Decimal("-9999999999999999.99"),
        100_000,
        date(2300, 1, 1),
        600,
        "c" * 300,
    )
    return ExchangeEvent("e" * 100, "p" * 80, "d" * 64, 70_000, 1 << 44, -(1 << 44), facts)

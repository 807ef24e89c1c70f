"""Event dataclasses shared by ingress, profiles and feeds (no Kafka import).

``ExchangeEvent`` is the validated, pseudonymized event that ingress writes to
``exchange.events``: it carries ``borrower_id`` (keyed HMAC of the national ID) and
never the raw national ID. The platform comes from the topic it arrived on, never
from the payload.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum


class Product(StrEnum):
    """Credit product of a loan (Avro enum ``io.creditstream.Product``)."""

    CASH_LOAN = "CASH_LOAN"
    BNPL = "BNPL"
    CREDIT_LINE = "CREDIT_LINE"
    CONSUMER_INSTALMENT = "CONSUMER_INSTALMENT"
    SME = "SME"


class LoanEventType(StrEnum):
    """What happened to a loan (Avro enum ``io.creditstream.LoanEventType``)."""

    APPLICATION = "APPLICATION"
    APPROVAL = "APPROVAL"
    DECLINE = "DECLINE"
    DISBURSEMENT = "DISBURSEMENT"
    REPAYMENT = "REPAYMENT"
    OVERDUE = "OVERDUE"
    DEFAULT = "DEFAULT"
    WRITE_OFF = "WRITE_OFF"
    CLOSURE = "CLOSURE"
    CORRECTION = "CORRECTION"


class ActivityKind(StrEnum):
    """Kind of non-credit activity (Avro enum ``io.creditstream.ActivityKind``)."""

    PURCHASE = "PURCHASE"
    TRAVEL_BOOKING = "TRAVEL_BOOKING"
    BILL_PAYMENT = "BILL_PAYMENT"
    RIDE = "RIDE"
    FOOD_ORDER = "FOOD_ORDER"
    ACCOUNT_CHANGE = "ACCOUNT_CHANGE"


@dataclass(frozen=True, slots=True)
class LoanFacts:
    """The credit part of an event.

    ``corrects_event_id`` is set only on ``CORRECTION`` events: the correction's
    facts replace those of the named earlier event of the same platform.
    """

    loan_id: str
    lender: str
    product: Product
    type: LoanEventType
    amount: Decimal
    currency: str
    principal_outstanding: Decimal
    days_past_due: int
    due_date: date | None = None
    term_months: int | None = None
    corrects_event_id: str | None = None


@dataclass(frozen=True, slots=True)
class ActivityFacts:
    """The activity part of an event (kept apart from credit features)."""

    kind: ActivityKind
    amount: Decimal
    currency: str
    category: str


@dataclass(frozen=True, slots=True)
class ExchangeEvent:
    """A validated, pseudonymized event; exactly one of ``loan``/``activity`` is set.

    Identity for dedup is ``(platform, event_id)``. Times are epoch milliseconds UTC.
    """

    event_id: str
    platform: str
    borrower_id: str
    key_version: int
    occurred_at_ms: int
    ingested_at_ms: int
    loan: LoanFacts | None = None
    activity: ActivityFacts | None = None

    @property
    def dedup_key(self) -> tuple[str, str]:
        """The identity under which duplicates are recognised."""
        return (self.platform, self.event_id)

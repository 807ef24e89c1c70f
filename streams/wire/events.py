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


@dataclass(slots=True, init=False, unsafe_hash=True)
class LoanFacts:
    """The credit part of an event.

    ``corrects_event_id`` is set only on ``CORRECTION`` events: the correction's
    facts replace those of the named earlier event of the same platform.
    """

    # Built per event: ``__init__`` by hand, which mypyc compiles (a dataclass's own
    # stays interpreted: ~0.44 us frozen against ~0.02), and not frozen (the compiled
    # init writes its slots directly; a frozen class refuses that as pure Python).
    # Treat it as immutable; ``unsafe_hash`` keeps it hashable as a frozen one was.

    loan_id: str
    lender: str
    product: Product
    type: LoanEventType
    amount: Decimal
    currency: str
    principal_outstanding: Decimal
    days_past_due: int
    due_date: date | None
    term_months: int | None
    corrects_event_id: str | None

    def __init__(
        self,
        loan_id: str,
        lender: str,
        product: Product,
        type: LoanEventType,
        amount: Decimal,
        currency: str,
        principal_outstanding: Decimal,
        days_past_due: int,
        due_date: date | None = None,
        term_months: int | None = None,
        corrects_event_id: str | None = None,
    ) -> None:
        self.loan_id = loan_id
        self.lender = lender
        self.product = product
        self.type = type
        self.amount = amount
        self.currency = currency
        self.principal_outstanding = principal_outstanding
        self.days_past_due = days_past_due
        self.due_date = due_date
        self.term_months = term_months
        self.corrects_event_id = corrects_event_id


@dataclass(slots=True, init=False, unsafe_hash=True)
class ActivityFacts:
    """The activity part of an event (kept apart from credit features); built by hand
    like :class:`LoanFacts`."""

    kind: ActivityKind
    amount: Decimal
    currency: str
    category: str

    def __init__(self, kind: ActivityKind, amount: Decimal, currency: str, category: str) -> None:
        self.kind = kind
        self.amount = amount
        self.currency = currency
        self.category = category


@dataclass(slots=True, init=False, unsafe_hash=True)
class ExchangeEvent:
    """A validated, pseudonymized event; exactly one of ``loan``/``activity`` is set.

    Identity for dedup is ``(platform, event_id)``. Times are epoch milliseconds UTC.
    Built by hand like :class:`LoanFacts`.
    """

    event_id: str
    platform: str
    borrower_id: str
    key_version: int
    occurred_at_ms: int
    ingested_at_ms: int
    loan: LoanFacts | None
    activity: ActivityFacts | None

    def __init__(
        self,
        event_id: str,
        platform: str,
        borrower_id: str,
        key_version: int,
        occurred_at_ms: int,
        ingested_at_ms: int,
        loan: LoanFacts | None = None,
        activity: ActivityFacts | None = None,
    ) -> None:
        self.event_id = event_id
        self.platform = platform
        self.borrower_id = borrower_id
        self.key_version = key_version
        self.occurred_at_ms = occurred_at_ms
        self.ingested_at_ms = ingested_at_ms
        self.loan = loan
        self.activity = activity

    @property
    def dedup_key(self) -> tuple[str, str]:
        """The identity under which duplicates are recognised."""
        return (self.platform, self.event_id)

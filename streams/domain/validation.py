"""Pure validation and normalization of platform events into ``ExchangeEvent``.

Contract:

* :class:`Reason` is the closed set of stable reject codes; they appear in reject
  headers and metric labels, so values never change meaning.
* :func:`validate_event` checks a decoded ``LoanEvent``/``ActivityEvent`` datum (as
  fastavro returns it, or as :func:`streams.wire.avrojson.json_to_datum` builds it) against
  the business rules and :class:`ValidationLimits`; :func:`to_exchange_event` then
  pseudonymizes the national ID, drops it and the user key, and returns the internal
  event. Failures raise :class:`InvalidEventError` whose message names fields and limits
  but never echoes a payload value (any string field may carry personal data).
* :func:`to_avro` / :func:`from_avro` map ``ExchangeEvent`` to and from the datum of
  ``io.creditstream.ExchangeEvent``.

No Kafka import: the ingress stage, the platform SDK and tests all call this.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from streams.clock import DAY_MS
from streams.domain.privacy import Pseudonymizer, is_valid_national_id, normalize_national_id
from streams.errors import CreditstreamError, DecodeError
from streams.wire.events import (
    ActivityFacts,
    ActivityKind,
    ExchangeEvent,
    LoanEventType,
    LoanFacts,
    Product,
)
from streams.wire.rejects import Reason
from streams.wire.schemas import ACTIVITY_EVENT, LOAN_EVENT, NAMESPACE

_CURRENCY_LIST = """
    EUR USD GBP CHF SEK NOK DKK PLN CZK HUF RON BGN ISK TRY UAH JPY CNY HKD SGD KRW INR IDR
    MYR PHP THB VND AUD NZD CAD MXN BRL ARS CLP COP PEN ZAR NGN KES EGP MAD AED SAR ILS
"""
DEFAULT_CURRENCIES = frozenset(_CURRENCY_LIST.split())
#: Amounts are Avro ``decimal(18, 2)`` in every schema: 16 integer digits at most.
AMOUNT_LIMIT = Decimal(10) ** 16


@dataclass(frozen=True, slots=True)
class ValidationLimits:
    """Field rules; defaults suit production, tests and settings may override."""

    currencies: frozenset[str] = field(default=DEFAULT_CURRENCIES)
    max_clock_skew_ms: int = 5 * 60 * 1000  # platform clocks may run a little ahead
    retention_ms: int = 1826 * DAY_MS  # 5 years: negative information ages out then
    max_record_bytes: int = 16 * 1024  # a real event is ~200 B; 16 KiB means abuse
    max_days_past_due: int = 3650
    max_term_months: int = 600
    max_text_length: int = 128  # ids, lender, category


DEFAULT_LIMITS = ValidationLimits()


class InvalidEventError(CreditstreamError):
    """An event broke a rule. ``message`` never contains payload values."""

    def __init__(self, reason: Reason, message: str, field: str | None = None) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message
        self.field = field

    def to_decode_error(
        self,
        raw: bytes,
        *,
        topic: str | None = None,
        partition: int | None = None,
        offset: int | None = None,
    ) -> DecodeError:
        """The same refusal as the DecodeError the reject path carries with the raw bytes."""
        return DecodeError(
            self.reason,
            self.message,
            raw,
            topic=topic,
            partition=partition,
            offset=offset,
        )


def check_size(
    raw: bytes,
    limits: ValidationLimits = DEFAULT_LIMITS,
    *,
    topic: str | None = None,
    partition: int | None = None,
    offset: int | None = None,
) -> None:
    """Raise ``DecodeError(OVERSIZE)`` before decoding a record larger than the limit."""
    if len(raw) > limits.max_record_bytes:
        msg = f"record is {len(raw)} bytes, limit is {limits.max_record_bytes}"
        raise DecodeError(
            Reason.OVERSIZE, msg, raw, topic=topic, partition=partition, offset=offset
        )


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


def to_epoch_ms(value: datetime | int) -> int:
    """Epoch milliseconds of an aware datetime (fastavro's timestamp-millis) or an int."""
    if isinstance(value, int):
        return value
    return (value - _EPOCH) // _MS  # exact, unlike float timestamp() * 1000


def _fail(reason: Reason, name: str, what: str) -> InvalidEventError:
    return InvalidEventError(reason, f"{name} {what}", name)


def _text(datum: Mapping[str, Any], name: str, limits: ValidationLimits, required: bool) -> str:
    value = datum.get(name)
    if value is None or (required and isinstance(value, str) and not value.strip()):
        raise _fail(Reason.MISSING_FIELD, name, "is missing or empty")
    if not isinstance(value, str):
        raise _fail(Reason.INVALID_FIELD, name, "must be a string")
    if len(value) > limits.max_text_length:
        raise _fail(Reason.INVALID_FIELD, name, f"is longer than {limits.max_text_length} chars")
    return value


def _amount(datum: Mapping[str, Any], name: str) -> Decimal:
    value = datum.get(name)
    if value is None:
        raise _fail(Reason.MISSING_FIELD, name, "is missing")
    if not isinstance(value, Decimal) or not value.is_finite():
        raise _fail(Reason.INVALID_FIELD, name, "must be a finite decimal")
    if value < 0:
        raise _fail(Reason.NEGATIVE_AMOUNT, name, "must not be negative")
    if value >= AMOUNT_LIMIT:
        # Avro does not bound a decimal's digits on the wire: the schemas' precision is
        # for the reader to check. Past it the exchange's own writers refuse the value
        # and, past 28 digits, so does the profiles' Decimal arithmetic: stop it here.
        raise _fail(Reason.INVALID_FIELD, name, "does not fit decimal(18, 2)")
    return value


def _symbol(datum: Mapping[str, Any], name: str, enum: type[StrEnum]) -> Any:
    value = datum.get(name)
    if value is None:
        raise _fail(Reason.MISSING_FIELD, name, "is missing")
    try:
        return enum(value)
    except (ValueError, TypeError):
        raise _fail(Reason.INVALID_FIELD, name, f"is not a {enum.__name__} symbol") from None


def _common(
    datum: Mapping[str, Any], now_ms: int, limits: ValidationLimits
) -> tuple[str, str, int, Decimal, str]:
    """Checks shared by both schemas; returns (event_id, normalized id, ms, amount, currency)."""
    event_id = _text(datum, "event_id", limits, True)
    _text(datum, "user_key", limits, True)
    raw_id = datum.get("national_id")
    if raw_id is None or (isinstance(raw_id, str) and not raw_id.strip()):
        raise _fail(Reason.MISSING_FIELD, "national_id", "is missing or empty")
    if not isinstance(raw_id, str) or not is_valid_national_id(normalize_national_id(raw_id)):
        raise _fail(
            Reason.INVALID_FIELD,
            "national_id",
            "is not 4-32 letters/digits once normalized",
        )
    occurred = datum.get("occurred_at")
    if occurred is None:
        raise _fail(Reason.MISSING_FIELD, "occurred_at", "is missing")
    if isinstance(occurred, bool) or not isinstance(occurred, datetime | int):
        raise _fail(Reason.INVALID_FIELD, "occurred_at", "must be a timestamp")
    occurred_ms = to_epoch_ms(occurred)
    if occurred_ms > now_ms + limits.max_clock_skew_ms:
        ahead = occurred_ms - now_ms
        raise InvalidEventError(
            Reason.FUTURE_TIMESTAMP,
            f"occurred_at is {ahead} ms ahead of the exchange clock "
            f"(allowed skew {limits.max_clock_skew_ms} ms)",
            "occurred_at",
        )
    if occurred_ms < now_ms - limits.retention_ms:
        raise InvalidEventError(
            Reason.TOO_OLD,
            f"occurred_at is older than the retention of {limits.retention_ms // DAY_MS} days",
            "occurred_at",
        )
    amount = _amount(datum, "amount")
    currency = datum.get("currency")
    if currency is None:
        raise _fail(Reason.MISSING_FIELD, "currency", "is missing")
    if not isinstance(currency, str) or currency not in limits.currencies:
        raise _fail(Reason.UNKNOWN_CURRENCY, "currency", "is not an accepted ISO-4217 code")
    return event_id, normalize_national_id(raw_id), occurred_ms, amount, currency


def _loan_facts(
    datum: Mapping[str, Any], amount: Decimal, currency: str, limits: ValidationLimits
) -> LoanFacts:
    event_type = _symbol(datum, "type", LoanEventType)
    dpd = datum.get("days_past_due")
    if dpd is None:
        raise _fail(Reason.MISSING_FIELD, "days_past_due", "is missing")
    if (
        isinstance(dpd, bool)
        or not isinstance(dpd, int)
        or not 0 <= dpd <= limits.max_days_past_due
    ):
        raise _fail(
            Reason.INVALID_DAYS_PAST_DUE,
            "days_past_due",
            f"must be between 0 and {limits.max_days_past_due}",
        )
    term = datum.get("term_months")
    if term is not None and (not isinstance(term, int) or not 1 <= term <= limits.max_term_months):
        raise _fail(Reason.INVALID_FIELD, "term_months", f"must be 1..{limits.max_term_months}")
    due = datum.get("due_date")
    if due is not None and (not isinstance(due, date) or isinstance(due, datetime)):
        raise _fail(Reason.INVALID_FIELD, "due_date", "must be a date")
    corrects = datum.get("corrects_event_id")
    if event_type is LoanEventType.CORRECTION:
        if not corrects:
            raise _fail(Reason.MISSING_FIELD, "corrects_event_id", "is required on CORRECTION")
        if corrects == datum.get("event_id"):
            raise _fail(Reason.INVALID_FIELD, "corrects_event_id", "must name another event")
        _text(datum, "corrects_event_id", limits, True)
    elif corrects is not None:
        raise _fail(Reason.INVALID_FIELD, "corrects_event_id", "is only allowed on CORRECTION")
    return LoanFacts(
        loan_id=_text(datum, "loan_id", limits, True),
        lender=_text(datum, "lender", limits, True),
        product=_symbol(datum, "product", Product),
        type=event_type,
        amount=amount,
        currency=currency,
        principal_outstanding=_amount(datum, "principal_outstanding"),
        days_past_due=dpd,
        due_date=due,
        term_months=term,
        corrects_event_id=corrects,
    )


def _validate(
    schema_name: str, datum: Mapping[str, Any], now_ms: int, limits: ValidationLimits
) -> tuple[str, str, int, LoanFacts | None, ActivityFacts | None]:
    event_id, national_id, occurred_ms, amount, currency = _common(datum, now_ms, limits)
    if schema_name == LOAN_EVENT:
        return (
            event_id,
            national_id,
            occurred_ms,
            _loan_facts(datum, amount, currency, limits),
            None,
        )
    if schema_name == ACTIVITY_EVENT:
        kind = _symbol(datum, "kind", ActivityKind)
        category = _text(datum, "category", limits, False)
        activity = ActivityFacts(kind=kind, amount=amount, currency=currency, category=category)
        return event_id, national_id, occurred_ms, None, activity
    raise InvalidEventError(Reason.WRONG_SCHEMA, "only LoanEvent and ActivityEvent are accepted")


def validate_event(
    schema_name: str,
    datum: Mapping[str, Any],
    now_ms: int,
    limits: ValidationLimits = DEFAULT_LIMITS,
) -> None:
    """Raise :class:`InvalidEventError` if a platform event breaks a rule (SDK pre-check)."""
    _validate(schema_name, datum, now_ms, limits)


def to_exchange_event(
    platform: str,
    schema_name: str,
    datum: Mapping[str, Any],
    pseudonymizer: Pseudonymizer,
    now_ms: int,
    ingested_at_ms: int,
    limits: ValidationLimits = DEFAULT_LIMITS,
) -> ExchangeEvent:
    """Validate and pseudonymize; the result holds neither national ID nor user key.

    ``platform`` must come from the topic name; ``now_ms`` is the clock the skew and
    retention rules compare against.
    """
    event_id, national_id, occurred_ms, loan, activity = _validate(
        schema_name, datum, now_ms, limits
    )
    version, borrower_id = pseudonymizer.pseudonymize(national_id)
    return ExchangeEvent(
        event_id=event_id,
        platform=platform,
        borrower_id=borrower_id,
        key_version=version,
        occurred_at_ms=occurred_ms,
        ingested_at_ms=ingested_at_ms,
        loan=loan,
        activity=activity,
    )


_LOAN, _ACTIVITY = f"{NAMESPACE}.LoanFacts", f"{NAMESPACE}.ActivityFacts"
_LOAN_FIELDS = tuple(LoanFacts.__dataclass_fields__)
_ACTIVITY_FIELDS = tuple(ActivityFacts.__dataclass_fields__)


def to_avro(event: ExchangeEvent) -> dict[str, Any]:
    """Datum for ``io.creditstream.ExchangeEvent`` (times as epoch-ms ints).

    Enum members go in as they are: a StrEnum *is* its symbol string for fastavro. The
    set union branch is given in fastavro's tuple notation ``(record name, record)`` so
    the writer need not try each branch: ~9 instead of ~14 us per encode.
    """
    loan, activity = event.loan, event.activity
    return {
        "event_id": event.event_id,
        "platform": event.platform,
        "borrower_id": event.borrower_id,
        "key_version": event.key_version,
        "occurred_at": event.occurred_at_ms,
        "ingested_at": event.ingested_at_ms,
        "loan": None if loan is None else (_LOAN, {n: getattr(loan, n) for n in _LOAN_FIELDS}),
        "activity": (
            None
            if activity is None
            else (_ACTIVITY, {n: getattr(activity, n) for n in _ACTIVITY_FIELDS})
        ),
    }


def from_avro(datum: Mapping[str, Any]) -> ExchangeEvent:
    """Inverse of :func:`to_avro`; accepts fastavro's decoded datum (datetimes, plain
    dicts) as well as :func:`to_avro`'s own output (ints, tuple notation)."""
    loan, activity = datum.get("loan"), datum.get("activity")
    if isinstance(loan, tuple):
        loan = loan[1]
    if isinstance(activity, tuple):
        activity = activity[1]
    return ExchangeEvent(
        event_id=datum["event_id"],
        platform=datum["platform"],
        borrower_id=datum["borrower_id"],
        key_version=datum["key_version"],
        occurred_at_ms=to_epoch_ms(datum["occurred_at"]),
        ingested_at_ms=to_epoch_ms(datum["ingested_at"]),
        loan=None
        if loan is None
        else LoanFacts(
            **{**loan, "product": Product(loan["product"]), "type": LoanEventType(loan["type"])}
        ),
        activity=None
        if activity is None
        else ActivityFacts(**{**activity, "kind": ActivityKind(activity["kind"])}),
    )

"""The business rules a platform event must pass, and its pseudonymization.

Contract:

* :func:`validate_event` checks a decoded ``LoanEvent``/``ActivityEvent`` datum (as
  fastavro returns it, or as :func:`streams.wire.avrojson.json_to_datum` builds it) against
  the business rules and :class:`~streams.domain.validation.limits.ValidationLimits`;
  :func:`to_exchange_event` runs the same checks, then pseudonymizes the national ID,
  drops it and the user key, and returns the internal event.
* A failure raises :class:`~streams.domain.validation.limits.InvalidEventError` whose
  message names fields and limits but never echoes a payload value (any string field
  may carry personal data). The first rule broken is the one reported, in a fixed order:
  the fields both schemas share, then the schema's own.

No Kafka import: the ingress stage, the platform SDK and tests all call this.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from streams.clock import DAY_MS
from streams.domain.privacy import Pseudonymizer, is_valid_national_id, normalize_national_id
from streams.domain.validation.datum import to_epoch_ms
from streams.domain.validation.limits import (
    AMOUNT_LIMIT,
    DEFAULT_LIMITS,
    InvalidEventError,
    ValidationLimits,
)
from streams.wire.events import (
    ActivityFacts,
    ActivityKind,
    ExchangeEvent,
    LoanEventType,
    LoanFacts,
    Product,
)
from streams.wire.rejects import Reason
from streams.wire.schemas import ACTIVITY_EVENT, LOAN_EVENT


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


#: Each enum's members by value: a dict lookup, where ``enum(value)`` runs Enum's
#: (interpreted) metaclass call on every record.
_MEMBERS: dict[type[StrEnum], dict[str, StrEnum]] = {}


def _symbol(datum: Mapping[str, Any], name: str, enum: type[StrEnum]) -> Any:
    value = datum.get(name)
    if value is None:
        raise _fail(Reason.MISSING_FIELD, name, "is missing")
    members = _MEMBERS.get(enum)
    if members is None:
        members = _MEMBERS[enum] = {m.value: m for m in enum}
    member = members.get(value) if isinstance(value, str) else None
    if member is None:
        raise _fail(Reason.INVALID_FIELD, name, f"is not a {enum.__name__} symbol")
    return member


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

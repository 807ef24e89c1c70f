"""The bounds an event must stay within, and the error that says it did not.

Contract:

* :class:`ValidationLimits` holds every tunable rule (accepted currencies, clock skew,
  retention, record size, days past due, term, text length); :data:`DEFAULT_LIMITS`
  suits production, tests and settings may build their own.
* :data:`AMOUNT_LIMIT` is fixed by the schemas, not tunable: every amount is Avro
  ``decimal(18, 2)``.
* :class:`InvalidEventError` is the refusal of a decoded event: a stable
  :class:`~streams.wire.rejects.Reason`, a message that names fields and limits but
  never a payload value, and the field at fault.
* :func:`check_size` refuses a record by its raw size alone, before it is decoded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from streams.clock import DAY_MS
from streams.errors import CreditstreamError, DecodeError
from streams.wire.rejects import Reason

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

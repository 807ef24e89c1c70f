"""Why a subscription request is refused: a stable code and a message without payload values.

Contract:

* :class:`ConsentReason` holds the stable codes a bank reads in its feed's reject message.
* :class:`RefusedRequestError` is one refusal: its ``reason``, a ``message`` that never
  contains a payload value, and the request's ``customer_ref`` when it had a usable one
  (to key the answer).
* :func:`refusal_from_decode_error` refuses a request the codec could not decode: the
  codec's code where a bank can act on it (NOT_AVRO, UNKNOWN_SCHEMA, WRONG_SCHEMA,
  OVERSIZE), MALFORMED otherwise.
"""

from __future__ import annotations

from enum import StrEnum

from streams.errors import CreditstreamError, DecodeError
from streams.wire.rejects import Reason


class ConsentReason(StrEnum):
    """Stable codes of a refused subscription request (in the feed's reject message)."""

    NOT_AVRO = "NOT_AVRO"
    UNKNOWN_SCHEMA = "UNKNOWN_SCHEMA"
    WRONG_SCHEMA = "WRONG_SCHEMA"  # Avro, but not a Subscription
    MALFORMED = "MALFORMED"  # truncated or otherwise undecodable body
    OVERSIZE = "OVERSIZE"
    INVALID_NATIONAL_ID = "INVALID_NATIONAL_ID"
    INVALID_CUSTOMER_REF = "INVALID_CUSTOMER_REF"
    MISSING_CONSENT_REF = "MISSING_CONSENT_REF"
    INVALID_CONSENT_REF = "INVALID_CONSENT_REF"
    UNKNOWN_PURPOSE = "UNKNOWN_PURPOSE"
    UNKNOWN_ACTION = "UNKNOWN_ACTION"
    INVALID_TIMESTAMP = "INVALID_TIMESTAMP"
    FUTURE_REQUEST = "FUTURE_REQUEST"
    EXPIRED = "EXPIRED"
    UNKNOWN_SUBSCRIPTION = "UNKNOWN_SUBSCRIPTION"  # REVOKE of nothing this bank holds


# Decode failures keep the codec's code when a bank can act on it; the rest are MALFORMED.
_DECODE_REASONS = {
    Reason.NOT_AVRO: ConsentReason.NOT_AVRO,
    Reason.UNKNOWN_SCHEMA: ConsentReason.UNKNOWN_SCHEMA,
    Reason.WRONG_SCHEMA: ConsentReason.WRONG_SCHEMA,
    Reason.OVERSIZE: ConsentReason.OVERSIZE,
}


class RefusedRequestError(CreditstreamError):
    """A subscription request was refused. ``message`` never contains payload values;
    ``customer_ref`` is the request's, when it had a usable one (to key the answer)."""

    def __init__(
        self, reason: ConsentReason, message: str, customer_ref: str | None = None
    ) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message
        self.customer_ref = customer_ref


def refusal_from_decode_error(exc: DecodeError) -> RefusedRequestError:
    """The refusal for a request the codec could not decode (``exc.message`` is
    codec-generated and free of payload values)."""
    reason = _DECODE_REASONS.get(exc.reason, ConsentReason.MALFORMED)  # type: ignore[call-overload]
    return RefusedRequestError(reason, exc.message)

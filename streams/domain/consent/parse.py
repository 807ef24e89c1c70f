"""A bank's subscription request, validated and pseudonymized, or refused.

Contract: :func:`parse_request` turns a decoded ``io.creditstream.Subscription`` datum
(fastavro output, or :func:`streams.wire.avrojson.json_to_datum` output) plus the bank
*derived from the topic name by the caller* into a :class:`ConsentRequest`, or raises
:class:`~streams.domain.consent.refusals.RefusedRequestError` with a stable
:class:`~streams.domain.consent.refusals.ConsentReason`. The national ID is
pseudonymized here and dropped: a ``ConsentRequest`` holds only ``borrower_id``.
Messages never echo a payload value; a ``customer_ref`` or ``consent_ref`` equal to the
borrower's national ID is refused, since both travel to feeds and the audit log.
:class:`ConsentLimits` holds the bounds; :data:`DEFAULT_LIMITS` suits production.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeVar

from streams.domain.consent.refusals import ConsentReason, RefusedRequestError
from streams.domain.privacy import Pseudonymizer, is_valid_national_id, normalize_national_id
from streams.domain.validation import to_epoch_ms
from streams.topics import valid_tenant
from streams.wire.consents import Action, ConsentRequest, Purpose

_Symbol = TypeVar("_Symbol", bound=StrEnum)


@dataclass(frozen=True, slots=True)
class ConsentLimits:
    """Rules for requests; defaults suit production."""

    max_text_length: int = 128  # customer_ref, consent_ref
    max_clock_skew_ms: int = 5 * 60 * 1000  # a bank's clock may run a little ahead


DEFAULT_LIMITS = ConsentLimits()


def _text(datum: Mapping[str, Any], name: str, limits: ConsentLimits) -> str | None:
    """The stripped string, None when missing or empty; refuses other types / sizes."""
    value = datum.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str) or len(value) > limits.max_text_length:
        raise ValueError(name)
    return value


def _ms(datum: Mapping[str, Any], name: str, cref: str) -> int:
    value = datum.get(name)
    if isinstance(value, bool) or not isinstance(value, datetime | int):
        raise RefusedRequestError(
            ConsentReason.INVALID_TIMESTAMP, f"{name} must be a timestamp", cref
        )
    return to_epoch_ms(value)


#: The refusal of a request whose field names no member of the field's enum.
_UNKNOWN: dict[type[StrEnum], tuple[ConsentReason, str]] = {
    Action: (ConsentReason.UNKNOWN_ACTION, "action must be SUBSCRIBE or REVOKE"),
    Purpose: (ConsentReason.UNKNOWN_PURPOSE, "purpose is not a Purpose symbol"),
}


def _symbol(kind: type[_Symbol], value: Any, cref: str) -> _Symbol:
    """The member of ``kind`` that ``value`` names; else its refusal (``_UNKNOWN``)."""
    try:
        return kind(str(value))
    except ValueError:
        raise RefusedRequestError(*_UNKNOWN[kind], cref) from None


def parse_request(
    bank: str,
    datum: Mapping[str, Any],
    pseudonymizer: Pseudonymizer,
    now_ms: int,
    limits: ConsentLimits = DEFAULT_LIMITS,
) -> ConsentRequest:
    """Validate and pseudonymize one request of ``bank`` (from the topic name)."""
    if not valid_tenant(bank):
        raise ValueError("bank must come from a banks.<bank>.subscriptions topic name")
    try:
        cref = _text(datum, "customer_ref", limits)
    except ValueError:
        cref = None
    if cref is None or not cref.isprintable():
        raise RefusedRequestError(
            ConsentReason.INVALID_CUSTOMER_REF,
            f"customer_ref must be 1-{limits.max_text_length} printable characters",
        )
    raw_id = datum.get("national_id")
    national = normalize_national_id(raw_id) if isinstance(raw_id, str) else ""
    if not is_valid_national_id(national):
        raise RefusedRequestError(
            ConsentReason.INVALID_NATIONAL_ID,
            "national_id is not 4-32 letters/digits once normalized",
            cref,
        )
    if normalize_national_id(cref) == national:
        # The key of every feed record and audit entry must not be the person's ID.
        raise RefusedRequestError(
            ConsentReason.INVALID_CUSTOMER_REF, "customer_ref must not be the national ID"
        )
    action = _symbol(Action, datum.get("action"), cref)
    requested = _ms(datum, "requested_at", cref)
    if requested > now_ms + limits.max_clock_skew_ms:
        raise RefusedRequestError(
            ConsentReason.FUTURE_REQUEST,
            f"requested_at is more than {limits.max_clock_skew_ms} ms ahead of the exchange",
            cref,
        )
    consent, purpose, expires = "", None, 0
    if action is Action.SUBSCRIBE:
        try:
            found = _text(datum, "consent_ref", limits)
        except ValueError:
            raise RefusedRequestError(
                ConsentReason.INVALID_CONSENT_REF,
                f"consent_ref must be at most {limits.max_text_length} characters",
                cref,
            ) from None
        if found is None:
            raise RefusedRequestError(
                ConsentReason.MISSING_CONSENT_REF, "consent_ref is required to subscribe", cref
            )
        if normalize_national_id(found) == national or not found.isprintable():
            raise RefusedRequestError(
                ConsentReason.INVALID_CONSENT_REF,
                "consent_ref must be printable and must not be the national ID",
                cref,
            )
        consent = found
        purpose = _symbol(Purpose, datum.get("purpose"), cref)
        expires = _ms(datum, "expires_at", cref)
        if expires <= now_ms:
            raise RefusedRequestError(
                ConsentReason.EXPIRED, "expires_at is not in the future", cref
            )
    version, borrower_id = pseudonymizer.pseudonymize(national)
    return ConsentRequest(
        bank, borrower_id, version, cref, action, consent, purpose, expires, requested
    )

"""Consent: a bank's subscription requests, validated, pseudonymized, kept per borrower.

Contract:

* :func:`parse_request` turns a decoded ``io.creditstream.Subscription`` datum (fastavro
  output, or :func:`streams.wire.avrojson.json_to_datum` output) plus the bank *derived from
  the topic name by the caller* into a :class:`ConsentRequest`, or raises
  :class:`RefusedRequestError` with a stable :class:`ConsentReason`. The national ID is
  pseudonymized here and dropped: a ``ConsentRequest`` holds only ``borrower_id``.
  Messages never echo a payload value; a ``customer_ref`` or ``consent_ref`` equal to
  the borrower's national ID is refused, since both travel to feeds and the audit log.
* :data:`Subscriptions` is one borrower's consent state: bank -> :class:`Subscription`.
  A bank holds at most one subscription per borrower (a second customer_ref would
  double-deliver and double-bill), so a SUBSCRIBE replaces whatever the bank had and
  the latest request wins; a REVOKE removes the bank's subscription if its
  customer_ref matches, else it is answered with ``UNKNOWN_SUBSCRIPTION``.
* :func:`active` returns the subscriptions valid at ``now_ms``; expiry is exclusive
  (at ``expires_at_ms`` delivery has stopped), so a stage that calls it with the
  current time stops at expiry, not at the next event. :func:`next_expiry` tells the
  stage when to look again; :func:`drop_expired` drops what expired.
* :func:`to_bytes` / :func:`from_bytes`: a compact marshal form for the per-borrower
  state; ``from_bytes(to_bytes(s)) == s``.

Pure: no Kafka import; the state values are immutable (functions return new mappings).
"""

from __future__ import annotations

import marshal
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from streams.domain.privacy import Pseudonymizer, is_valid_national_id, normalize_national_id
from streams.domain.validation import to_epoch_ms
from streams.errors import CreditstreamError, DecodeError
from streams.topics import valid_tenant
from streams.wire.consents import Action, ConsentRequest, Purpose
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


@dataclass(frozen=True, slots=True)
class ConsentLimits:
    """Rules for requests; defaults suit production."""

    max_text_length: int = 128  # customer_ref, consent_ref
    max_clock_skew_ms: int = 5 * 60 * 1000  # a bank's clock may run a little ahead


DEFAULT_LIMITS = ConsentLimits()


@dataclass(frozen=True, slots=True)
class Subscription:
    """One bank's valid consent for one borrower; deliveries stop at ``expires_at_ms``."""

    bank: str
    customer_ref: str
    consent_ref: str
    purpose: Purpose
    expires_at_ms: int
    granted_at_ms: int

    def active_at(self, now_ms: int) -> bool:
        return now_ms < self.expires_at_ms


#: One borrower's subscriptions: bank -> its subscription. Treat as immutable.
Subscriptions = Mapping[str, Subscription]
EMPTY: Subscriptions = {}


@dataclass(frozen=True, slots=True)
class Answer:
    """What the bank is told about one request (an ack or a reject on its feed).

    ``subscription`` is the new one on an accepted SUBSCRIBE; ``replaced`` the one it
    superseded (another customer_ref of the same bank), or the revoked one on REVOKE.
    """

    bank: str
    customer_ref: str
    action: Action | None
    accepted: bool
    reason: ConsentReason | None = None
    message: str = ""
    subscription: Subscription | None = None
    replaced: Subscription | None = None


def refused(bank: str, fallback_key: str, exc: RefusedRequestError) -> Answer:
    """The reject answer for a refused request, keyed by its customer_ref when it had a
    usable one, else by ``fallback_key``: pass the request's coordinates
    (``streams.wire.rejects.reject_key(topic, partition, offset)``), never its Kafka key,
    which may be the very value that was refused (e.g. a national ID used as ref)."""
    return Answer(bank, exc.customer_ref or fallback_key, None, False, exc.reason, exc.message)


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
    try:
        action = Action(str(datum.get("action")))
    except ValueError:
        raise RefusedRequestError(
            ConsentReason.UNKNOWN_ACTION, "action must be SUBSCRIBE or REVOKE", cref
        ) from None
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
        try:
            purpose = Purpose(str(datum.get("purpose")))
        except ValueError:
            raise RefusedRequestError(
                ConsentReason.UNKNOWN_PURPOSE, "purpose is not a Purpose symbol", cref
            ) from None
        expires = _ms(datum, "expires_at", cref)
        if expires <= now_ms:
            raise RefusedRequestError(
                ConsentReason.EXPIRED, "expires_at is not in the future", cref
            )
    version, borrower_id = pseudonymizer.pseudonymize(national)
    return ConsentRequest(
        bank, borrower_id, version, cref, action, consent, purpose, expires, requested
    )


def apply_request(
    subs: Subscriptions, request: ConsentRequest, now_ms: int
) -> tuple[Subscriptions, Answer]:
    """Apply one validated request to the borrower's subscriptions (see module doc).

    ``subs`` is not modified. ``now_ms`` is the grant time and the expiry check (a
    request that waited past its expiry is refused ``EXPIRED``).
    """
    bank, cref = request.bank, request.customer_ref
    current = subs.get(bank)
    if request.action is Action.REVOKE:
        if current is None or current.customer_ref != cref:
            msg = "no subscription of this bank under this customer_ref"
            answer = Answer(
                bank, cref, Action.REVOKE, False, ConsentReason.UNKNOWN_SUBSCRIPTION, msg
            )
            return subs, answer
        rest = {b: s for b, s in subs.items() if b != bank}
        return rest, Answer(bank, cref, Action.REVOKE, True, message="revoked", replaced=current)
    if request.purpose is None:  # parse_request never builds this
        raise ValueError("a SUBSCRIBE request needs a purpose")
    if request.expires_at_ms <= now_ms:
        msg = "expires_at passed before the request was processed"
        return subs, Answer(bank, cref, Action.SUBSCRIBE, False, ConsentReason.EXPIRED, msg)
    new = Subscription(
        bank, cref, request.consent_ref, request.purpose, request.expires_at_ms, now_ms
    )
    replaced = current if current is not None and current.customer_ref != cref else None
    answer = Answer(bank, cref, Action.SUBSCRIBE, True, None, "subscribed", new, replaced)
    return {**subs, bank: new}, answer


def active(subs: Subscriptions, now_ms: int) -> list[Subscription]:
    """Subscriptions valid at ``now_ms`` (``now < expires_at``), ordered by bank."""
    return [subs[b] for b in sorted(subs) if now_ms < subs[b].expires_at_ms]


def next_expiry(subs: Subscriptions) -> int | None:
    """The earliest ``expires_at_ms`` held (expired ones included until pruned)."""
    return min((s.expires_at_ms for s in subs.values()), default=None)


def drop_expired(subs: Subscriptions, now_ms: int) -> tuple[Subscriptions, list[Subscription]]:
    """``(still valid, expired)`` at ``now_ms``; returns ``subs`` itself if none expired."""
    gone = [s for s in subs.values() if s.expires_at_ms <= now_ms]
    if not gone:
        return subs, []
    return {b: s for b, s in subs.items() if s.expires_at_ms > now_ms}, gone


_FORMAT = 1  # bump when the tuple layout changes; from_bytes refuses unknown formats


def to_bytes(subs: Subscriptions) -> bytes:
    """Compact form: a format byte + marshal of a tuple of plain tuples (~30 B each)."""
    rows = tuple(
        (s.bank, s.customer_ref, s.consent_ref, str(s.purpose), s.expires_at_ms, s.granted_at_ms)
        for s in subs.values()
    )
    return bytes((_FORMAT,)) + marshal.dumps(rows, 4)


def from_bytes(data: bytes) -> dict[str, Subscription]:
    """Inverse of :func:`to_bytes`; ``ValueError`` on an unknown format."""
    if data[:1] != bytes((_FORMAT,)):
        raise ValueError(f"unknown subscriptions format {data[:1]!r}")
    rows = marshal.loads(data[1:])
    return {r[0]: Subscription(r[0], r[1], r[2], Purpose(r[3]), r[4], r[5]) for r in rows}

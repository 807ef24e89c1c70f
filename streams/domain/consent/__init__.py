"""Consent: a bank's subscription requests, validated, pseudonymized, kept per borrower.

The package's public API is the names below; import them from here
(``from streams.domain.consent import parse_request``). Its modules, by concept:

* ``refusals``: :class:`ConsentReason` (the stable codes a bank is answered with),
  :class:`RefusedRequestError` and :func:`refusal_from_decode_error`.
* ``parse``: :func:`parse_request` turns a decoded ``io.creditstream.Subscription`` datum
  plus the bank *derived from the topic name by the caller* into a ``ConsentRequest``
  holding only ``borrower_id`` (the national ID is pseudonymized and dropped), or
  refuses it; :class:`ConsentLimits` and :data:`DEFAULT_LIMITS` bound it.
* ``subscriptions``: :data:`Subscriptions`, one borrower's consent state (bank ->
  :class:`Subscription`, :data:`EMPTY` when none); :func:`active`, :func:`next_expiry`
  and :func:`drop_expired` read it at a time; :func:`to_bytes` / :func:`from_bytes` are
  its compact stored form.
* ``answers``: :func:`apply_request` applies a validated request to the state and says
  what the bank is told (:class:`Answer`); :func:`refused` answers a refused one.

Pure: no Kafka import; the state values are immutable (functions return new mappings).
"""

from streams.domain.consent.answers import Answer, apply_request, refused
from streams.domain.consent.parse import DEFAULT_LIMITS, ConsentLimits, parse_request
from streams.domain.consent.refusals import (
    ConsentReason,
    RefusedRequestError,
    refusal_from_decode_error,
)
from streams.domain.consent.subscriptions import (
    EMPTY,
    Subscription,
    Subscriptions,
    active,
    drop_expired,
    from_bytes,
    next_expiry,
    next_expiry_of,
    to_bytes,
)

__all__ = [
    "DEFAULT_LIMITS",
    "EMPTY",
    "Answer",
    "ConsentLimits",
    "ConsentReason",
    "RefusedRequestError",
    "Subscription",
    "Subscriptions",
    "active",
    "apply_request",
    "drop_expired",
    "from_bytes",
    "next_expiry",
    "next_expiry_of",
    "parse_request",
    "refusal_from_decode_error",
    "refused",
    "to_bytes",
]

"""A validated request applied to one borrower's subscriptions, and what the bank is told.

Contract:

* :func:`apply_request` returns the borrower's new subscriptions and the :class:`Answer`
  for the bank; the state passed in is never modified. A SUBSCRIBE replaces whatever the
  bank had for the borrower, so the latest request wins; a REVOKE removes the bank's
  subscription if its customer_ref matches, else it is answered with
  ``UNKNOWN_SUBSCRIPTION``; a request that waited past its expiry is answered ``EXPIRED``.
* :func:`refused` is the answer to a request ``parse_request`` refused, keyed so that
  it never repeats the refused value.
"""

from __future__ import annotations

from dataclasses import dataclass

from streams.domain.consent.refusals import ConsentReason, RefusedRequestError
from streams.domain.consent.subscriptions import Subscription, Subscriptions
from streams.wire.consents import Action, ConsentRequest


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

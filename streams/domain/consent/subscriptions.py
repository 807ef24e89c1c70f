"""One borrower's consent state: which banks hold a subscription, until when.

Contract:

* :data:`Subscriptions` maps bank -> :class:`Subscription`: a bank holds at most one
  subscription per borrower (a second customer_ref would double-deliver and
  double-bill). Values are immutable: the functions here return new mappings.
* :func:`active` returns the subscriptions valid at ``now_ms``; expiry is exclusive (at
  ``expires_at_ms`` delivery has stopped), so a stage that calls it with the current
  time stops at expiry, not at the next event. :func:`next_expiry` tells the stage when
  to look again; :func:`drop_expired` drops what expired.
* :func:`to_bytes` / :func:`from_bytes`: a compact marshal form for the per-borrower
  store; ``from_bytes(to_bytes(s)) == s``, and an unknown format is refused.
"""

from __future__ import annotations

import marshal
from collections.abc import Mapping
from dataclasses import dataclass

from streams.wire.consents import Purpose


@dataclass(slots=True, init=False, unsafe_hash=True)
class Subscription:
    """One bank's valid consent for one borrower; deliveries stop at ``expires_at_ms``.
    Built by hand like :class:`~streams.wire.events.LoanFacts` (mypyc compiles the
    init; decoded with every borrower's state); treat it as immutable."""

    bank: str
    customer_ref: str
    consent_ref: str
    purpose: Purpose
    expires_at_ms: int
    granted_at_ms: int

    def __init__(
        self,
        bank: str,
        customer_ref: str,
        consent_ref: str,
        purpose: Purpose,
        expires_at_ms: int,
        granted_at_ms: int,
    ) -> None:
        self.bank = bank
        self.customer_ref = customer_ref
        self.consent_ref = consent_ref
        self.purpose = purpose
        self.expires_at_ms = expires_at_ms
        self.granted_at_ms = granted_at_ms

    def active_at(self, now_ms: int) -> bool:
        return now_ms < self.expires_at_ms


#: One borrower's subscriptions: bank -> its subscription. Treat as immutable.
Subscriptions = Mapping[str, Subscription]
EMPTY: Subscriptions = {}


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


#: Purpose by value: a dict lookup, where ``Purpose(value)`` runs Enum's interpreted call.
_PURPOSES = {p.value: p for p in Purpose}
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
    purposes = _PURPOSES
    return {r[0]: Subscription(r[0], r[1], r[2], purposes[r[3]], r[4], r[5]) for r in rows}


def next_expiry_of(data: bytes) -> int | None:
    """``next_expiry(from_bytes(data))`` without building the subscriptions (recovery
    indexes every replayed record: a quarter of its time went to building them)."""
    if data[:1] != bytes((_FORMAT,)):
        raise ValueError(f"unknown subscriptions format {data[:1]!r}")
    rows = marshal.loads(data[1:])
    return min([r[4] for r in rows]) if rows else None

"""What the exchange keeps per borrower for the borrower's rights (pure).

A :class:`Rights` rides in the borrower's entry (``streams.stages.borrower.entry``) and
its state record; most borrowers have none (``None``: nothing costs on the hot path).
It holds:

* ``disputes``: every objection by its id, open or answered. An open one marks the
  contested loan in what banks receive until the furnishing platform answers or its
  deadline passes; an answered one is kept for ``history`` (a year by default) so the
  borrower can ask for its outcome (``creditstream dispute status``).
* ``ended``: banks whose consent ended after they had received this borrower's data,
  with when and under which consent: within the notification window (6 months, FCRA
  §1681i(d)) a correction reaches them as a notice carrying nothing new.
* ``excluded``: loans (``platform \\0 loan_id``) taken out of the profile because a
  dispute of theirs went unverified; later events of such a loan are dropped too.

Everything is plain ``str``/``int`` tuples, lists and dicts so that ``marshal`` holds it.

:class:`DisputeRequest` and :class:`ErasureRequest` are the borrower's requests as the
stage reads them from ``exchange.requests`` (pseudonymized: no national ID).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final, NamedTuple

from streams.clock import iso_ms

#: A dispute's states. OPEN until the platform answers (CORRECTED: its correction
#: changed the record; CONFIRMED: it re-sent the same facts) or the deadline passes
#: (NOT_VERIFIED); REFUSED when no such record exists (or one is already disputed).
OPEN: Final = "OPEN"
CORRECTED: Final = "CORRECTED"
CONFIRMED: Final = "CONFIRMED"
NOT_VERIFIED: Final = "NOT_VERIFIED"
REFUSED: Final = "REFUSED"
STATUSES: Final = (OPEN, CORRECTED, CONFIRMED, NOT_VERIFIED, REFUSED)


@dataclass(slots=True)
class Dispute:
    """One objection against one platform's record of one loan."""

    dispute_id: str
    platform: str
    loan_id: str
    reason: str
    requested_by: str
    opened_ms: int
    deadline_ms: int
    #: The contested loan's first event time: a bank whose consent ended before it
    #: cannot have received data derived from the loan.
    loan_from_ms: int
    status: str = OPEN
    closed_ms: int = -1
    note: str = ""  # why it was refused, or what the answer did

    @property
    def loan_key(self) -> str:
        return loan_key(self.platform, self.loan_id)

    @property
    def open(self) -> bool:
        return self.status == OPEN

    def as_tuple(self) -> tuple[Any, ...]:
        return (
            self.dispute_id, self.platform, self.loan_id, self.reason, self.requested_by,
            self.opened_ms, self.deadline_ms, self.loan_from_ms, self.status, self.closed_ms,
            self.note,
        )  # fmt: skip


class Mark(NamedTuple):
    """An objection as a bank sees it marked on a profile (``DisputeMark`` on the wire)."""

    dispute_id: str
    platform: str
    status: str
    since_ms: int

    def as_json(self) -> dict[str, str]:
        """The mark in the profile JSON of a person's report (``"since"`` ISO-8601)."""
        return {
            "dispute_id": self.dispute_id,
            "platform": self.platform,
            "status": self.status,
            "since": iso_ms(self.since_ms),
        }


@dataclass(frozen=True, slots=True)
class Ended:
    """A bank's consent that ended after it had received data: whom a correction
    notice goes to, under which consent (the notice is audited), and since when."""

    customer_ref: str
    consent_ref: str
    purpose: str
    ended_ms: int


@dataclass(slots=True)
class Rights:
    """A borrower's disputes, ended recipients and excluded loans (see the module doc)."""

    disputes: dict[str, Dispute] = field(default_factory=dict)
    ended: dict[str, Ended] = field(default_factory=dict)
    excluded: list[str] = field(default_factory=list)

    def open_disputes(self) -> list[Dispute]:
        """The open disputes, oldest first."""
        return sorted((d for d in self.disputes.values() if d.open), key=lambda d: d.opened_ms)

    @property
    def has_open(self) -> bool:
        return any(d.open for d in self.disputes.values())

    def empty(self) -> bool:
        return not (self.disputes or self.ended or self.excluded)

    def next_deadline(self) -> int | None:
        """The earliest deadline of an open dispute (None: none open)."""
        return min((d.deadline_ms for d in self.disputes.values() if d.open), default=None)

    def as_tuple(self) -> tuple[Any, ...]:
        """The stored form (:func:`rights_from_tuple` reads it)."""
        return (
            tuple(d.as_tuple() for d in self.disputes.values()),
            tuple((b, e.customer_ref, e.consent_ref, e.purpose, e.ended_ms)
                  for b, e in self.ended.items()),
            tuple(self.excluded),
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class DisputeRequest:
    """An objection as the stage reads it from ``exchange.requests`` (no national ID)."""

    dispute_id: str
    borrower_id: str
    platform: str
    loan_id: str
    reason: str
    requested_by: str
    requested_ms: int


@dataclass(frozen=True, slots=True)
class ErasureRequest:
    """An erasure as the stage reads it from ``exchange.requests`` (no national ID)."""

    request_id: str
    borrower_id: str
    requested_by: str
    requested_ms: int


def rights_from_tuple(values: tuple[Any, ...]) -> Rights:
    """Inverse of :meth:`Rights.as_tuple`."""
    disputes, ended, excluded = values
    return Rights(
        {d[0]: Dispute(*d) for d in disputes},
        {e[0]: Ended(*e[1:]) for e in ended},
        list(excluded),
    )


def loan_key(platform: str, loan_id: str) -> str:
    """The fold state's key of a loan (``streams.domain.profile.state``)."""
    return f"{platform}\0{loan_id}"

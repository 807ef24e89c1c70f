"""A simulated borrower's life: its clock, its loans and the events it makes (pure, seeded).

A borrower is a :class:`Life`: one synthetic national ID shared by every platform it
uses, a platform-specific ``user_key`` per platform (:mod:`streams.simulator.borrower`),
its own ``random.Random`` seeded from ``(seed, index)`` (so its story does not depend on
how lives interleave), a clock and a budget of events. Its builders make good events
(:class:`Ev`) and move its loans (:class:`Loan`) on; :func:`lifecycle` is a loan from
application to closure. A persona is a generator of that borrower's good events in
time order (:mod:`streams.simulator.personas`); :mod:`streams.simulator.load` merges
all lives by time.

Time: a life spreads its budget over ``[start, end]``: each ordinary step advances
about ``0.75 * (end - start) / budget`` (monthly-ish at realistic budgets), fraud
bursts advance minutes. The clock never passes ``end`` (the simulation's ``now``).
"""

from __future__ import annotations

import random
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from streams.clock import DAY_MS
from streams.simulator.borrower import Persona, id_as_held, national_id, pick_platforms, user_key
from streams.simulator.platforms import PlatformSpec
from streams.wire.events import ActivityKind, LoanEventType, Product
from streams.wire.schemas import ACTIVITY_EVENT, LOAN_EVENT

MINUTE_MS = 60_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

Datum = dict[str, Any]


def ts(ms: int) -> datetime:
    """Exact aware datetime of epoch ms (float maths could shift a millisecond)."""
    return _EPOCH + timedelta(milliseconds=ms)


def money(cents: int) -> Decimal:
    """Cents as a 2-decimal amount, the scale of every decimal in the event schemas."""
    return Decimal(cents).scaleb(-2)


_CURRENCIES = ("EUR",) * 7 + ("SEK", "PLN", "CZK")


@dataclass(frozen=True, slots=True)
class Ev:
    """A good event as a persona produces it."""

    at_ms: int
    platform: str
    schema_name: str
    key: str
    datum: Datum


@dataclass(slots=True)
class Loan:
    """A loan's running state inside one life."""

    loan_id: str
    platform: PlatformSpec
    product: Product
    amount: Decimal
    term: int | None
    due_ms: int
    principal: Decimal = Decimal("0.00")
    dpd: int = 0


class Life:
    """One borrower: identity, platforms, clock and event builders (see module doc)."""

    def __init__(
        self,
        index: int,
        persona: Persona,
        seed: int,
        specs: list[PlatformSpec],
        start_ms: int,
        end_ms: int,
        budget: int,
    ) -> None:
        self.index, self.persona, self.seed = index, persona, seed
        self.rng = random.Random(f"creditstream-sim:{seed}:{index}")
        rng = self.rng
        self.platforms = pick_platforms(rng, persona, specs)
        self.lenders = [s for s in self.platforms if s.products] or self.platforms
        raw = national_id(rng, index)
        number = {s.name: i for i, s in enumerate(specs)}
        self.ids = {s.name: id_as_held(raw, number[s.name]) for s in self.platforms}
        self.keys = {s.name: user_key(seed, s.name, index) for s in self.platforms}
        self.currency = rng.choice(_CURRENCIES)
        self.end = end_ms
        self.budget, self.made, self.scales, self._n = budget, 0, 0.0, 0
        self.t = start_ms + rng.randrange(max(1, (end_ms - start_ms) // max(budget, 1)))

    def advance(self, scale: float = 1.0) -> None:
        """Move the clock on by about ``scale`` ordinary steps, never past the end.

        An ordinary step is the time left over the steps left, where the steps left are
        the events left times the mean scale seen so far (bursts and short steps count
        less), so each life spreads its budget evenly over the whole period.
        """
        self.scales += scale
        mean = self.scales / max(1, self.made)
        left = max(0, self.budget - self.made) * min(1.0, mean) + 1
        step = int((self.end - self.t) / left * scale * self.rng.uniform(0.5, 1.5))
        self.t = min(self.end, self.t + max(MINUTE_MS, step))

    def minutes(self, lo: int, hi: int) -> None:
        self.scales += 0.01
        self.t = min(self.end, self.t + self.rng.randint(lo, hi) * MINUTE_MS)

    def _event_id(self) -> str:
        self._n += 1
        return f"ev-{self.seed}-{self.index}-{self._n}"

    def _common(self, spec: PlatformSpec) -> Datum:
        self.made += 1
        return {
            "event_id": self._event_id(),
            "occurred_at": ts(self.t),
            "user_key": self.keys[spec.name],
            "national_id": self.ids[spec.name],
        }

    def activity(
        self, spec: PlatformSpec | None = None, kinds: set[ActivityKind] | None = None
    ) -> Ev:
        """One activity event on ``spec`` (default: a random platform of this life)."""
        spec = spec or self.rng.choice(self.platforms)
        options = [a for a in spec.activity if kinds is None or a[0] in kinds] or list(
            spec.activity
        )
        kind, category, lo, hi = self.rng.choice(options)
        datum = self._common(spec) | {
            "kind": kind.value,
            "amount": money(self.rng.randint(lo * 100, hi * 100)),
            "currency": self.currency,
            "category": category,
        }
        return Ev(self.t, spec.name, ACTIVITY_EVENT, self.keys[spec.name], datum)

    def loan_event(
        self, loan: Loan, typ: LoanEventType, amount: Decimal, corrects: str | None = None
    ) -> Ev:
        spec = loan.platform
        scheduled = (
            typ not in (LoanEventType.APPLICATION, LoanEventType.DECLINE) and loan.term is not None
        )
        datum = self._common(spec) | {
            "loan_id": loan.loan_id,
            "lender": spec.lender,
            "product": loan.product.value,
            "type": typ.value,
            "amount": amount,
            "currency": self.currency,
            "principal_outstanding": loan.principal,
            "days_past_due": loan.dpd,
            "due_date": ts(loan.due_ms).date() if scheduled and loan.principal else None,
            "term_months": loan.term,
            "corrects_event_id": corrects,
        }
        return Ev(self.t, spec.name, LOAN_EVENT, self.keys[spec.name], datum)

    def new_loan(self, spec: PlatformSpec | None = None) -> Loan:
        spec = spec or self.rng.choice(self.lenders)
        product = self.rng.choice(spec.products)
        units = {Product.BNPL: (50, 900), Product.SME: (2000, 30000)}.get(product, (300, 8000))
        term = None if product is Product.CREDIT_LINE else self.rng.choice((3, 6, 12, 24))
        if product is Product.BNPL:
            term = 3
        self._n += 1
        loan_id = f"L-{self.seed}-{self.index}-{self._n}"
        amount = money(self.rng.randint(units[0], units[1]) * 100)
        return Loan(loan_id, spec, product, amount, term, self.t + 30 * DAY_MS)

    def apply(self, loan: Loan) -> Ev:
        return self.loan_event(loan, LoanEventType.APPLICATION, loan.amount)

    def open(self, loan: Loan) -> Generator[Ev, None, Loan]:
        """Approval and disbursement after an application already sent."""
        self.advance(0.2)
        yield self.loan_event(loan, LoanEventType.APPROVAL, loan.amount)
        self.advance(0.2)
        loan.principal = loan.amount
        loan.due_ms = self.t + 30 * DAY_MS
        yield self.loan_event(loan, LoanEventType.DISBURSEMENT, loan.amount)
        return loan

    def repay(self, loan: Loan) -> Ev:
        parts = loan.term or 6
        pay = min(loan.principal, money(int(loan.amount * 100 / parts) + 1))
        loan.principal -= pay
        loan.dpd = 0
        loan.due_ms += 30 * DAY_MS
        return self.loan_event(loan, LoanEventType.REPAYMENT, pay)

    def overdue(self, loan: Loan) -> Ev:
        """Days past due grow with the clock, and by at least a month per report (platforms
        report delinquency monthly, whatever spacing the budget gives the simulation)."""
        late = max(loan.dpd + 30, (self.t - loan.due_ms) // DAY_MS)
        loan.dpd = min(late, 3650)
        owed = min(loan.principal, money(int(loan.amount * 100 / (loan.term or 6))))
        return self.loan_event(loan, LoanEventType.OVERDUE, owed)


def lifecycle(life: Life, loan: Loan) -> Iterator[Ev]:
    """Application, approval, disbursement, on-time repayments, closure."""
    yield life.apply(loan)
    yield from life.open(loan)
    while loan.principal > 0:
        life.advance()
        last = life.repay(loan)
        yield last
        if life.rng.random() < 0.04:  # the platform fixes a mis-keyed repayment amount
            life.advance(0.1)
            fixed = money(int(last.datum["amount"] * 100) - 1)
            yield life.loan_event(loan, LoanEventType.CORRECTION, fixed, last.datum["event_id"])
    life.advance(0.3)
    yield life.loan_event(loan, LoanEventType.CLOSURE, Decimal("0.00"))

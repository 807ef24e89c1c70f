"""Personas of the load simulator: infinite generators of one life's good events.

Each takes a :class:`~streams.simulator.life.Life` and yields
:class:`~streams.simulator.life.Ev` in non-decreasing time; the simulator takes as many
as the life's budget allows. Pure and seeded through ``life.rng``: no Kafka, no clock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal

from streams.simulator.borrower import Persona
from streams.simulator.life import Ev, Life, Loan, lifecycle
from streams.wire.events import ActivityKind, LoanEventType, Product


def steady_payer(life: Life) -> Iterator[Ev]:
    """Borrows on one or two platforms and always pays on time; shops a little."""
    while True:
        yield from lifecycle(life, life.new_loan())
        life.advance()
        if life.rng.random() < 0.5:
            yield life.activity()
            life.advance()


def multi_platform(life: Life) -> Iterator[Ev]:
    """Holds loans from several platforms at once, applied for within days."""
    while True:
        loans = [life.new_loan(spec) for spec in life.lenders]
        for loan in loans:
            yield life.apply(loan)
            yield from life.open(loan)
            life.advance(0.3)
        while any(loan.principal > 0 for loan in loans):
            life.advance()
            for loan in (x for x in loans if x.principal > 0):
                yield life.repay(loan)
                life.advance(0.1)
        for loan in loans:
            yield life.loan_event(loan, LoanEventType.CLOSURE, Decimal("0.00"))
        life.advance()


def _slip(life: Life, loan: Loan) -> Iterator[Ev]:
    """Growing days past due, then default and write-off of what is left."""
    loan.due_ms = min(loan.due_ms, life.t)
    while loan.dpd < 90:
        life.advance()
        yield life.overdue(loan)
    life.advance()
    yield life.loan_event(loan, LoanEventType.DEFAULT, loan.principal)
    life.advance()
    written_off = loan.principal
    loan.principal = Decimal("0.00")
    yield life.loan_event(loan, LoanEventType.WRITE_OFF, written_off)


def slipping(life: Life) -> Iterator[Ev]:
    """Pays a few instalments, slips into delinquency, defaults; later only spends."""
    loan = life.new_loan()
    yield life.apply(loan)
    yield from life.open(loan)
    for _ in range(life.rng.randint(1, 3)):
        life.advance()
        yield life.repay(loan)
    yield from _slip(life, loan)
    while True:
        life.advance()
        if life.rng.random() < 0.2:  # tries again elsewhere and is turned down
            retry = life.new_loan()
            yield life.apply(retry)
            life.minutes(5, 600)
            yield life.loan_event(retry, LoanEventType.DECLINE, retry.amount)
        else:
            yield life.activity()


def fraud_burst(life: Life) -> Iterator[Ev]:
    """Applications on several platforms within hours; a couple are paid out and go bad."""
    while True:
        life.advance()
        yield life.activity()
        life.advance()
        loans = [life.new_loan(spec) for spec in life.lenders]
        for loan in loans:
            yield life.apply(loan)
            life.minutes(5, 90)
        paid_out = loans[: life.rng.randint(1, 2)]
        for loan in loans[len(paid_out) :]:
            life.minutes(10, 240)
            yield life.loan_event(loan, LoanEventType.DECLINE, loan.amount)
        for loan in paid_out:
            yield from life.open(loan)
        for loan in paid_out:
            yield from _slip(life, loan)


def shopper(life: Life) -> Iterator[Ev]:
    """Frequent purchases, food orders and bills; now and then a BNPL paid on time."""
    kinds = {
        ActivityKind.PURCHASE,
        ActivityKind.FOOD_ORDER,
        ActivityKind.BILL_PAYMENT,
        ActivityKind.ACCOUNT_CHANGE,
    }
    while True:
        life.advance(0.5)
        if life.rng.random() < 0.04 and any(Product.BNPL in s.products for s in life.platforms):
            spec = life.rng.choice([s for s in life.platforms if Product.BNPL in s.products])
            yield from lifecycle(life, life.new_loan(spec))
        else:
            yield life.activity(kinds=kinds)


def traveller(life: Life) -> Iterator[Ev]:
    """Travel bookings and rides, in trips of a few events within days."""
    while True:
        life.advance()
        yield life.activity(kinds={ActivityKind.TRAVEL_BOOKING})
        for _ in range(life.rng.randint(0, 3)):
            life.minutes(60, 3 * 24 * 60)
            yield life.activity(
                kinds={ActivityKind.RIDE, ActivityKind.FOOD_ORDER, ActivityKind.PURCHASE}
            )


PERSONAS: dict[Persona, Callable[[Life], Iterator[Ev]]] = {
    Persona.STEADY_PAYER: steady_payer,
    Persona.MULTI_PLATFORM: multi_platform,
    Persona.SLIPPING: slipping,
    Persona.FRAUD_BURST: fraud_burst,
    Persona.SHOPPER: shopper,
    Persona.TRAVELLER: traveller,
}

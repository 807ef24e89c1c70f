"""The README's "Running pieces by hand" block, run as written on a plain broker of its own:
provisioning by ``creditstream admin``, a worker, a bank's subscription, a platform's
events, and the bank's feed showing the profile."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.readme import Session, block, terminal

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def session() -> Iterator[Session]:
    with terminal("readme-") as s:
        yield s


def shows_profile(_line: str, out: str) -> bool:
    """The bank's feed has answered C1's subscription and shown the profile after the
    loan's repayment (in the ack, or in an update after a NO_DATA_YET ack)."""
    answered = "C1  SUBSCRIPTION_ACK" in out or "C1  NO_DATA_YET" in out
    return answered and "open_loans=1 owed=EUR 1375.00" in out


def test_running_pieces_by_hand(session: Session) -> None:
    session.play(block("## Running pieces by hand"), shows_profile)
    said = {t.split("\n", 1)[0]: t for t in session.transcript}

    def output(command: str) -> str:
        return next(out for line, out in said.items() if command in line)

    assert "ingest.acme.rejected" in output("provision-platform acme")
    assert "3 events, 3 delivered, 0 refused" in output("publish --platform acme")
    assert "nordbank" in output("audit --national-id")
    report = output("report --national-id")
    assert "acme loan" in report and "nordbank for CREDIT_APPLICATION" in report
    printed = report.split("\n", 1)[1]  # after the command line itself
    assert "Audit chain: verified" in printed and "850101" not in printed
    assert "acme" in output("creditstream platforms")
    opened = output("dispute open")
    assert "filed against acme loan L-1" in opened and "850101" not in opened.split("\n", 1)[1]

"""The README's secure-broker block, run as written: provisioning by ``creditstream admin``
as the broker's super user, then a worker running as the exchange's user with exactly the
rights that provisioning granted, a bank and a platform each as their own user, and the
bank's feed showing the profile built from the platform's events."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.readme import Session, block, terminal
from tests.integration.test_readme import shows_profile

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def session() -> Iterator[Session]:
    with terminal("secure-", ".creditstream/secure") as s:
        yield s


def test_a_worker_runs_on_the_rights_admin_grants(session: Session) -> None:
    (make_key,) = [line for line in block("## Running pieces by hand") if "hmac.key)" in line]
    session.run("mkdir -p .creditstream")
    session.run(make_key)
    session.play(block("## Running pieces by hand", index=1), shows_profile)
    worker_log = session.output(session.jobs[0][1])
    assert "AUTHORIZATION_FAILED" not in worker_log, worker_log
    assert "restarting" not in worker_log.lower(), worker_log

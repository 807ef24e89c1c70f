"""The README's secure-broker block, run as written: provisioning by ``creditstream admin``
as the broker's super user, then a worker running as the exchange's user with exactly the
rights that provisioning granted, a bank and a platform each as their own user, and the
bank's feed showing the profile built from the platform's events."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

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
    # Raw national IDs (the broker's ingest segments) and borrowers' state (the worker's
    # stores) are readable by their owner only, around any ACL.
    for root in (session.cwd / ".creditstream/secure", session.cwd / ".creditstream/state"):
        assert private(root), root


def private(root: Path) -> bool:
    """Every directory under ``root`` (itself included) is 0700 and every file 0600 or
    stricter; lists what is not."""
    loose = [
        (str(p), oct(p.stat().st_mode & 0o777))
        for p in [root, *root.rglob("*")]
        if not p.is_symlink() and p.stat().st_mode & 0o077
    ]
    assert not loose, loose
    return True

"""Stages as processes: ``--stages ingress,consents`` and ``--stages borrower`` form one
exchange, on a broker of the module's own.

Two worker processes with one app id (so the same consumer groups) and their own web
ports: the first runs ingress and the consent stage, the second the borrower stage. A
bank subscribes through the SDK, a platform publishes, and the bank's feed receives the
latest version of every subscribed borrower; each process's ``/ready`` and
``creditstream_ready`` name only the stages it runs.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from streams.runtime.provision import ensure_bank, ensure_platform
from streams.sdk.subscriber import BankSubscriber
from streams.settings import Settings
from tests.integration.test_bank_feeds import (
    BIDS,
    NIDS,
    PLATFORM,
    Conf,
    answered,
    events,
    feed,
    produce,
    ref,
    updates,
)
from tests.integration.workers import WorkerProcess, running_worker, worker_env
from tests.waiting import NotYet, eventually

pytestmark = pytest.mark.integration

BANK = "delta"
MEMBERS = range(0, 4)


def ready_stages(worker: WorkerProcess) -> dict[str, float]:
    return {
        dict(labels)["stage"]: value
        for (name, labels), value in worker.metrics().items()
        if name == "creditstream_ready"
    }


def delivered(conf: Conf) -> bool | NotYet:
    """The bank's feed holds every subscribed borrower's latest update version."""
    ups = updates(conf)
    last = {r["customer_ref"]: r["profile_version"] for r in feed(conf, BANK)}
    for i in MEMBERS:
        want = ups[BIDS[i]][-1]["profile_version"] if ups.get(BIDS[i]) else None
        if want is None or last.get(ref(BANK, i)) != want:
            return NotYet(f"borrower {i}: feed at v{last.get(ref(BANK, i))}, update v{want}")
    return True


def test_two_processes_with_split_stages_run_one_exchange(private_bootstrap: str) -> None:
    conf: Conf = {"bootstrap.servers": private_bootstrap}
    ensure_platform(conf, PLATFORM, 2)
    ensure_bank(conf, BANK, 2)
    front = worker_env(private_bootstrap, CREDITSTREAM_STAGES="ingress,consents")
    back = worker_env(
        private_bootstrap,
        CREDITSTREAM_STAGES="borrower",
        CREDITSTREAM_APP_ID=front["CREDITSTREAM_APP_ID"],
        CREDITSTREAM_STATE_DIR=front["CREDITSTREAM_STATE_DIR"],
    )
    year = datetime.now(UTC) + timedelta(days=365)
    with running_worker(front) as first, running_worker(back) as second:
        assert ready_stages(first) == {"ingress": 1, "consents": 1}
        assert ready_stages(second) == {"borrower": 1}
        with BankSubscriber(BANK, Settings(bootstrap=private_bootstrap)) as sub:
            for i in MEMBERS:
                sub.subscribe(NIDS[i], ref(BANK, i), f"{BANK}-consent-{i}", "ACCOUNT_REVIEW", year)
        eventually(lambda: answered(conf, {BANK: {ref(BANK, i) for i in MEMBERS}}), what="answers")
        produce(conf, events(1))
        eventually(lambda: delivered(conf), what="the bank's feed caught up")
        assert first.alive() and second.alive()

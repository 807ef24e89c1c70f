"""A worker refuses to run a stage whose co-partitioned topics differ in partition count,
and provisioning says so instead of ignoring an existing topic of another count.

On a broker of the module's own (the exchange topics have fixed names): exchange.consents
is made with 3 partitions before the worker (CREDITSTREAM_PARTITIONS=2) creates the
others, so the borrower stage's inputs exchange.events (2) and exchange.consents (3)
are not co-partitioned: the borrower stage halts with one line and the worker exits
non-zero instead of keeping one borrower's consents and events on different workers.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from streams import topics
from streams.errors import BrokerError
from streams.runtime import provision
from streams.runtime.provision import TopicSpec
from tests.integration.workers import running_worker, worker_env

pytestmark = pytest.mark.integration

WANT = (
    "borrower: exchange.events has 2 partitions but exchange.consents has 3: "
    "co-partitioned inputs must match (recreate one, or run provision with the same "
    "--partitions)"
)


def test_the_borrower_stage_halts_the_worker_on_unequal_inputs(private_bootstrap: str) -> None:
    conf = {"bootstrap.servers": private_bootstrap}
    consents = next(s for s in provision.exchange_topics(3) if s.name == topics.CONSENTS)
    assert provision.ensure(conf, [consents]) == [topics.CONSENTS]
    env = worker_env(private_bootstrap, CREDITSTREAM_PARTITIONS="2")
    with running_worker(env, ready=False) as worker:  # it must never become ready
        code = worker.proc.wait(120)  # the halt ends the process: no polling, no sleep
        log = worker.log()
    assert code != 0, log
    halted = [line for line in log.splitlines() if WANT in line]
    assert halted, log
    assert "borrower stopped: " + WANT in halted[0]
    # The worker created the other exchange topics with 2 partitions and left consents be.
    counts = provision._ensure(conf, provision.exchange_topics(2), 30.0, "warn")[1]
    assert counts[topics.CONSENTS] == 3
    assert {n for n, c in counts.items() if c != 2} == {topics.CONSENTS}


def test_provisioning_the_exchange_reports_a_topic_of_another_count(
    private_bootstrap: str,
) -> None:
    conf = {"bootstrap.servers": private_bootstrap}
    provision.ensure(conf, [TopicSpec(topics.CONSENTS, 3, {})], mismatch="warn")
    provision.ensure(conf, provision.exchange_topics(2), mismatch="warn")  # as a worker would
    with pytest.raises(BrokerError) as caught:
        provision.ensure(conf, provision.exchange_topics(3), mismatch="raise")
    message = str(caught.value)
    assert "exchange.consents" not in message  # it has the 3 partitions asked for
    assert message.startswith(f"{topics.EXCHANGE_EVENTS} has 2 partitions, not 3; ")
    assert message.endswith("provision with --partitions 2")
    # Through the admin command on the plain broker: one line, exit 1.
    argv = ["--bootstrap", private_bootstrap, "admin", "provision-exchange", "--partitions", "2"]
    res = subprocess.run(
        [sys.executable, "-m", "streams.cli", *argv],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "CREDITSTREAM_SECURITY_PROTOCOL": "PLAINTEXT"},
    )
    assert res.returncode == 1, res
    assert res.stderr.count("\n") == 1, res.stderr
    assert "exchange.consents has 3 partitions, not 2" in res.stderr


def test_a_tenant_topic_of_another_count_is_kept_with_a_warning(
    private_bootstrap: str, caplog: pytest.LogCaptureFixture
) -> None:
    conf = {"bootstrap.servers": private_bootstrap}
    assert provision.ensure_platform(conf, "acme", 2) != []
    assert provision.ensure_platform(conf, "acme", 4) == []  # no error: any count works
    assert "ingest.acme.loans has 2 partitions, not 4" in caplog.text

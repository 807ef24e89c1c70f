"""The in-place restart of a failed stage, and the worker identity it relies on."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.errors import BrokerError, ConfigError, StageHaltError
from streams.runtime.host import RestartPolicy, supervise
from streams.runtime.instance import FILE_NAME, instance_id
from streams.settings import Settings

FAST = RestartPolicy(limit=3, first_delay_s=0.001, max_delay_s=0.004, healthy_s=60)


class FlakyStage:
    """Fails ``failures`` times, then runs until stopped (or returns at once)."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.runs = 0
        self.ready = threading.Event()

    def run(self) -> None:
        self.runs += 1
        self.ready.set()
        if self.runs <= self.failures:
            raise RuntimeError(f"broker gone (run {self.runs})")

    def stop(self) -> None:
        pass


def run_supervised(stage: FlakyStage, policy: RestartPolicy = FAST) -> tuple[int, list[str]]:
    restarts: list[int] = []
    crashed: list[str] = []
    supervise(
        stage,
        "test",
        policy,
        threading.Event(),
        lambda: restarts.append(1),
        lambda exc: crashed.append(str(exc)),
    )
    return len(restarts), crashed


def test_a_failing_stage_is_run_again_until_it_succeeds() -> None:
    stage = FlakyStage(failures=3)
    restarts, crashed = run_supervised(stage)
    assert (stage.runs, restarts, crashed) == (4, 3, [])


def test_the_worker_crashes_after_the_limit_of_consecutive_failures() -> None:
    stage = FlakyStage(failures=100)
    restarts, crashed = run_supervised(stage)
    assert stage.runs == FAST.limit + 1 and restarts == FAST.limit
    assert crashed == [f"broker gone (run {FAST.limit + 1})"]
    assert not stage.ready.is_set()  # a failed stage never reports ready


def test_a_halt_during_the_backoff_stops_without_another_run() -> None:
    halt = threading.Event()
    backing_off = threading.Event()  # set by the supervisor just before its backoff wait
    stage = FlakyStage(failures=100)
    slow = RestartPolicy(limit=5, first_delay_s=30, max_delay_s=30)
    args = (stage, "t", slow, halt, backing_off.set, lambda e: None)
    thread = threading.Thread(target=supervise, args=args, daemon=True)
    thread.start()
    # Halting at once could come before the first run (then nothing ran) or while it
    # ran (then the halt is seen on its failure, with no backoff): wait for the backoff.
    assert backing_off.wait(10), "the stage never failed into its backoff"
    halt.set()
    thread.join(5)  # far less than the 30 s backoff: only the halt ends it
    assert not thread.is_alive() and stage.runs == 1


def test_a_halt_before_the_stage_thread_runs_means_no_run() -> None:
    halt = threading.Event()
    halt.set()
    stage = FlakyStage(failures=0)
    restarts: list[int] = []
    supervise(stage, "t", FAST, halt, lambda: restarts.append(1), lambda e: None)
    assert (stage.runs, restarts) == (0, [])


@given(st.lists(st.floats(0, 200), min_size=1, max_size=30))
def test_failure_count_resets_after_a_healthy_run(runs: list[float]) -> None:
    policy = RestartPolicy(limit=5, healthy_s=60)
    failures = 0
    for ran in runs:
        failures = policy.failures_after(failures, ran)
    # The count is the run of consecutive short runs at the end (+1 for a healthy one).
    tail = 0
    for ran in reversed(runs):
        tail += 1
        if ran >= 60:
            break
    assert failures == tail


@given(st.integers(1, 200))
def test_backoff_grows_and_is_capped(failures: int) -> None:
    policy = RestartPolicy(first_delay_s=0.5, max_delay_s=10)
    assert policy.delay(failures) == min(10.0, 0.5 * 2 ** (failures - 1))
    assert policy.delay(failures + 1) >= policy.delay(failures)


def test_instance_id_is_created_once_and_kept_with_the_state(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path / "state")
    first = instance_id(settings)
    assert first == instance_id(settings)  # a restart gets the same identity
    assert (tmp_path / "state" / FILE_NAME).read_text().strip() == first
    other = instance_id(Settings(state_dir=tmp_path / "other"))
    assert other != first  # another worker (its own state dir) gets its own


def test_the_stages_of_one_worker_racing_for_a_new_instance_id_agree(tmp_path: Path) -> None:
    """A worker's stages are threads of one process that may all create the id at
    once (a CI run once saw one fail: they shared one temporary file name)."""
    for attempt in range(20):
        settings = Settings(state_dir=tmp_path / f"state-{attempt}")
        barrier = threading.Barrier(6)

        def create(s: Settings = settings, b: threading.Barrier = barrier) -> str:
            b.wait()
            return instance_id(s)

        with ThreadPoolExecutor(6) as pool:
            ids = list(pool.map(lambda _: create(), range(6)))
        assert len(set(ids)) == 1, ids
        assert list((tmp_path / f"state-{attempt}").iterdir()) == [
            tmp_path / f"state-{attempt}" / FILE_NAME
        ]  # no temporary file left behind


def test_instance_id_from_the_setting_wins(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path, instance_id="pod-3")
    assert instance_id(settings) == "pod-3"
    assert not (tmp_path / FILE_NAME).exists()


def test_a_corrupt_instance_id_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / FILE_NAME).write_text("not valid!\n")
    with pytest.raises(ConfigError, match="instance-id does not hold a valid instance id"):
        instance_id(Settings(state_dir=tmp_path))


def test_an_invalid_instance_id_setting_is_refused() -> None:
    with pytest.raises(ValueError, match="instance_id"):
        Settings(instance_id="two words")


@pytest.mark.parametrize(
    "error", [StageHaltError("reject guard tripped"), ConfigError("no HMAC key")]
)
def test_a_deliberate_halt_or_bad_config_crashes_at_once(error: Exception) -> None:
    class Halting(FlakyStage):
        def run(self) -> None:
            self.runs += 1
            raise error

    stage = Halting(failures=0)
    restarts, crashed = run_supervised(stage)
    assert (stage.runs, restarts, crashed) == (1, 0, [str(error)])


def test_a_worker_waits_for_kafka_then_says_clearly_that_it_is_not_there() -> None:
    from streams.worker.lifecycle import wait_for_kafka
    from tests.integration.kafka_helpers import free_port

    settings = Settings(bootstrap=f"127.0.0.1:{free_port()}")  # nothing listens there
    with pytest.raises(BrokerError, match=r"did not answer within 1s"):
        wait_for_kafka(settings, 1.0)

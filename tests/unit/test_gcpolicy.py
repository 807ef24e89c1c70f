"""The worker's GC policy: freezing after commits, full collections on schedule."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from streams.domain.profile.windows import DEFAULT_CONFIG
from streams.runtime.gcpolicy import GC_THRESHOLD, FreezingGc
from streams.runtime.registry import codec_for
from streams.settings import Settings
from streams.stages.borrower.stage import BorrowerStage


class Node:
    """A container that can be part of a reference cycle, and weakly referenced."""

    def __init__(self) -> None:
        self.other: Node | None = None


def cycle() -> weakref.ref[Node]:
    """Make a two-object cycle, drop the names, return a weak reference into it."""
    a, b = Node(), Node()
    a.other, b.other = b, a
    return weakref.ref(a)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(autouse=True)
def restore_gc() -> Iterator[None]:
    """The collector is process-wide: leave it as pytest had it."""
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)
    gc.collect()


def test_start_sets_the_threshold_and_freezes_what_is_alive() -> None:
    policy = FreezingGc(clock=FakeClock())
    policy.start()
    assert gc.get_threshold() == GC_THRESHOLD
    assert gc.get_freeze_count() > 0
    assert policy.full_collections == 1


def test_committed_freezes_new_objects_so_collections_skip_them() -> None:
    clock = FakeClock()
    policy = FreezingGc(full_every_s=60, clock=clock)
    policy.start()
    before = gc.get_freeze_count()
    kept = [[i] for i in range(1000)]  # the "committed state" of a batch
    policy.committed()
    assert gc.get_freeze_count() >= before + 1000
    assert gc.get_count()[0] == 0  # nothing young left for the next collection
    assert policy.full_collections == 1  # not yet time for a full one
    del kept


def test_frozen_cycles_wait_for_the_periodic_full_collection() -> None:
    clock = FakeClock()
    policy = FreezingGc(full_every_s=60, clock=clock)
    policy.start()
    ref = cycle()
    policy.committed()  # frozen while garbage: no ordinary collection can free it
    gc.collect()
    assert ref() is not None
    clock.now += 59
    policy.committed()
    assert ref() is not None
    clock.now += 1  # the period is up: unfreeze, collect, freeze
    policy.committed()
    assert ref() is None
    assert policy.full_collections == 2
    assert policy.full_seconds > 0


def test_acyclic_objects_are_freed_while_frozen() -> None:
    """Freezing never holds memory that reference counting can free."""
    policy = FreezingGc(clock=FakeClock())
    policy.start()
    node = Node()
    ref = weakref.ref(node)
    policy.committed()
    del node
    assert ref() is None


def test_the_borrower_stage_takes_its_period_from_the_settings() -> None:
    stage = BorrowerStage(Settings(gc_full_collect_every_s=42), codec_for(None), DEFAULT_CONFIG)
    assert stage.gc.full_every_s == 42

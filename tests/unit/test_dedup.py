"""The dedup memory: staged ids count only once committed, committed ids live in the
partition stores with a checkpoint per source, expired ids are swept; recovery of a
source reads only the changelog after its checkpoint (``stages.ingress.recovery``,
its Kafka half in tests/integration/test_ingress_worker.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.runtime.state import MemoryStore, PartitionStore, Store
from streams.stages.ingress.dedup import (
    Dedup,
    changelog_key,
    changelog_partition,
    checkpoint_key,
    parse_changelog,
)
from streams.stages.ingress.recovery import untrusted

SRC = ("ingest.acme.loans", 3)
OTHER = ("ingest.acme.loans", 4)


def test_changelog_key_roundtrips_even_with_pipes_in_event_ids() -> None:
    key = changelog_key(SRC, "ev|with|pipes")
    assert parse_changelog(key, b"123") == (SRC, "ev|with|pipes", 123)
    assert parse_changelog(key, None) == (SRC, "ev|with|pipes", None)


@given(st.text(min_size=1, max_size=30), st.integers(0, 1000), st.integers(1, 64))
def test_changelog_partition_is_stable_and_in_range(topic: str, part: int, n: int) -> None:
    p = changelog_partition((topic, part), n)
    assert 0 <= p < n
    assert p == changelog_partition((topic, part), n)


def test_checkpoint_keys_sort_before_every_event_key() -> None:
    assert checkpoint_key(SRC) < changelog_key(("a", 0), "")


def test_committed_ids_expire_and_the_sweep_removes_them() -> None:
    dedup = Dedup(window_ms=100, partitions=4)
    assert dedup.stage(SRC, "a", now_ms=1000) == 1100
    dedup.stage(SRC, "b", now_ms=1050)
    dedup.commit([(SRC, "a"), (SRC, "b")], {SRC: 41})
    assert dedup.seen(SRC, "a", 1099) and not dedup.seen(SRC, "a", 1100)
    assert dedup.checkpoint(SRC) == 41
    assert dedup.sweep(1120) == 1  # a only; b expires at 1150; the checkpoint stays
    assert dedup.seen(SRC, "b", 1120) and dedup.checkpoint(SRC) == 41
    assert dedup.sweep(2000, budget=1) == 0  # the budget reached only the checkpoint key
    assert dedup.sweep(2000, budget=1) == 1  # ... and the next call goes on after it
    assert dedup.size() == 1  # the checkpoint


@given(
    st.lists(
        st.tuples(st.sampled_from(["stage", "seal", "commit", "abort"]), st.sampled_from("abcde")),
        max_size=40,
    )
)
def test_only_committed_batches_are_remembered(ops: list[tuple[str, str]]) -> None:
    """Batches as a pipelined loop would run them: ``seal`` hands the batch being
    staged to the commit (at most one in flight), ``commit`` settles the oldest,
    ``abort`` undoes every staged batch."""
    dedup = Dedup(window_ms=10**9, partitions=4)
    committed: set[str] = set()
    staging: set[str] = set()
    in_flight: list[set[str]] = []
    offset = 0
    for op, event_id in ops:
        if op == "stage":
            dedup.stage(SRC, event_id, 0)
            staging.add(event_id)
        elif op == "seal" and not in_flight:
            in_flight.append(staging)
            staging = set()
        elif op == "commit" and in_flight:
            batch = in_flight.pop(0)
            offset += len(batch) + 1
            dedup.commit([(SRC, e) for e in batch], {SRC: offset} if batch else {})
            committed |= batch
        elif op == "abort":
            dedup.abort()
            staging, in_flight = set(), []
        pending = staging.union(*in_flight)
        for e in "abcde":
            assert dedup.seen(SRC, e, 1) == (e in committed or e in pending)


def _disk(tmp_path: Path) -> Dedup:
    return Dedup(10**9, 4, lambda c: PartitionStore.open(tmp_path / str(c)))


def test_committed_ids_come_back_from_disk_staged_ones_do_not(tmp_path: Path) -> None:
    dedup = _disk(tmp_path)
    dedup.stage(SRC, "kept", 0)
    dedup.stage(OTHER, "kept", 0)
    dedup.commit([(SRC, "kept"), (OTHER, "kept")], {SRC: 10, OTHER: 11})
    dedup.stage(SRC, "staged", 0)
    dedup.forget([OTHER])  # revoked: the committed ids stay on disk for its return
    dedup.close()
    again = _disk(tmp_path)
    assert again.seen(SRC, "kept", 1) and again.seen(OTHER, "kept", 1)
    assert not again.seen(SRC, "staged", 1)
    assert (again.checkpoint(SRC), again.checkpoint(OTHER)) == (10, 11)
    again.close()


@pytest.mark.parametrize(
    ("checkpoint", "low", "high", "why"),
    [
        (None, 0, 10, None),
        (5, 0, 10, None),
        (5, 6, 10, None),  # the next record is the first one kept
        (5, 7, 10, "the changelog starts at 7"),
        (10, 0, 10, "past the changelog's end 10"),
    ],
)
def test_a_store_is_trusted_only_with_checkpoints_inside_the_changelog(
    checkpoint: int | None, low: int, high: int, why: str | None
) -> None:
    store: Store = MemoryStore()
    found = untrusted(store, {SRC: checkpoint, OTHER: None}, low, high)
    assert (found is None) if why is None else (why in (found or ""))


def test_a_store_written_before_tombstones_may_have_gone_is_not_trusted() -> None:
    store = MemoryStore()
    store.apply({b"k": b"1"}, 3)
    store.written_at_ms = 0  # written in 1970
    assert "tombstones" in (untrusted(store, {SRC: 3}, 0, 10) or "")

"""The dedup memory: staged ids count only once committed; recovery replays the log."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from streams.stages.ingress.dedup import (
    DedupMemory,
    changelog_key,
    changelog_partition,
    parse_changelog,
)

SRC = ("ingest.acme.loans", 3)


def test_changelog_key_roundtrips_even_with_pipes_in_event_ids() -> None:
    key = changelog_key(SRC, "ev|with|pipes")
    assert parse_changelog(key, b"123") == (SRC, "ev|with|pipes", 123)
    assert parse_changelog(key, None) == (SRC, "ev|with|pipes", None)


@given(st.text(min_size=1, max_size=30), st.integers(0, 1000), st.integers(1, 64))
def test_changelog_partition_is_stable_and_in_range(topic: str, part: int, n: int) -> None:
    p = changelog_partition((topic, part), n)
    assert 0 <= p < n
    assert p == changelog_partition((topic, part), n)


def test_entries_expire_and_tombstones_forget() -> None:
    mem = DedupMemory(window_ms=100)
    expiry = mem.stage(SRC, "a", now_ms=1000)
    assert expiry == 1100
    mem.commit([(SRC, "a")])
    assert mem.seen(SRC, "a", 1099)
    assert not mem.seen(SRC, "a", 1100)
    assert mem.expire(1100) == 1 and mem.size() == 0
    mem.load(SRC, "b", 5000, now_ms=0)
    mem.load(SRC, "b", None, now_ms=0)  # a tombstone
    assert not mem.seen(SRC, "b", 1)


@given(
    st.lists(
        st.tuples(st.sampled_from(["stage", "seal", "commit", "abort"]), st.sampled_from("abcde")),
        max_size=40,
    )
)
def test_only_committed_batches_are_remembered(ops: list[tuple[str, str]]) -> None:
    """Batches as the pipelined loop runs them: ``seal`` hands the batch being staged to
    the commit (at most one in flight), ``commit`` settles the oldest, ``abort`` undoes
    every staged batch."""
    mem = DedupMemory(window_ms=10**9)
    committed: set[str] = set()
    staging: set[str] = set()
    in_flight: list[set[str]] = []
    for op, event_id in ops:
        if op == "stage":
            mem.stage(SRC, event_id, 0)
            staging.add(event_id)
        elif op == "seal" and not in_flight:
            in_flight.append(staging)
            staging = set()
        elif op == "commit" and in_flight:
            batch = in_flight.pop(0)
            mem.commit([(SRC, e) for e in batch])
            committed |= batch
        elif op == "abort":
            mem.abort()
            staging, in_flight = set(), []
        pending = staging.union(*in_flight)
        for e in "abcde":
            assert mem.seen(SRC, e, 1) == (e in committed or e in pending)
    # Recovery from the committed changelog rebuilds exactly the committed memory.
    replayed = DedupMemory(window_ms=10**9)
    for e in committed:
        replayed.load(SRC, e, 10**9, now_ms=1)
    mem.abort()
    for e in "abcde":
        assert replayed.seen(SRC, e, 2) == mem.seen(SRC, e, 2)


def test_forget_drops_revoked_partitions_only() -> None:
    mem = DedupMemory(window_ms=1000)
    other = ("ingest.acme.loans", 4)
    mem.stage(SRC, "x", 0)
    mem.stage(other, "x", 0)
    mem.commit([(SRC, "x"), (other, "x")])
    mem.forget([SRC])
    assert not mem.seen(SRC, "x", 1)
    assert mem.seen(other, "x", 1)

"""VersionLedger: the bank SDK's dedup/order rule, for any interleaving and duplication."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.sdk.subscriber.ledger import LedgerStore, VersionLedger

REFS = st.sampled_from(["c1", "c2", "c3"])
VERSIONED = st.sampled_from(["PROFILE_UPDATE", "ALERT"])
PASSING = st.sampled_from(["SUBSCRIPTION_ACK", "SUBSCRIPTION_REJECT", "NO_DATA_YET"])
RECORD = st.tuples(REFS, st.integers(0, 30), st.one_of(VERSIONED, PASSING))


@given(st.lists(RECORD, max_size=80))
def test_never_yields_a_version_twice_or_backwards(records: list[tuple[str, int, str]]) -> None:
    ledger = VersionLedger()
    yielded: dict[str, list[int]] = {}
    for ref, version, kind in records:
        admitted = ledger.admit(ref, version, kind)
        if kind in {"SUBSCRIPTION_REJECT", "NO_DATA_YET", "SUBSCRIPTION_ACK"}:
            assert admitted  # answers to requests always pass
        elif admitted:
            yielded.setdefault(ref, []).append(version)
    for versions in yielded.values():
        assert versions == sorted(set(versions))  # strictly increasing


@given(st.lists(st.tuples(REFS, st.integers(0, 30), VERSIONED), max_size=60), st.randoms())
def test_duplicates_and_replays_add_nothing(
    records: list[tuple[str, int, str]], rnd: random.Random
) -> None:
    """Re-delivering any earlier records (at-least-once) after the originals yields nothing."""
    ledger = VersionLedger()
    for ref, version, kind in records:
        ledger.admit(ref, version, kind)
    replay = list(records)
    rnd.shuffle(replay)
    assert not [r for r in replay if ledger.admit(*r)]


@given(st.lists(st.tuples(REFS, st.integers(0, 30)), min_size=1, max_size=60))
def test_the_newest_version_per_ref_is_always_yielded(records: list[tuple[str, int]]) -> None:
    ledger = VersionLedger()
    admitted = [(ref, v) for ref, v in records if ledger.admit(ref, v, "PROFILE_UPDATE")]
    for ref in {r for r, _ in records}:
        newest = max(v for r, v in records if r == ref)
        assert (ref, newest) in admitted
        assert ledger.last(ref) == newest


@given(st.lists(RECORD, max_size=60), st.integers(0, 60))
def test_a_restart_from_the_saved_state_continues_the_same_rule(
    records: list[tuple[str, int, str]], cut: int
) -> None:
    """Split anywhere, restart from a snapshot: same yields as one uninterrupted run."""
    whole = VersionLedger()
    expected = [whole.admit(*r) for r in records]
    first = VersionLedger()
    got = [first.admit(*r) for r in records[:cut]]
    second = VersionLedger(first.snapshot())
    got += [second.admit(*r) for r in records[cut:]]
    assert got == expected


def test_answers_pass_and_leave_the_ledger_alone() -> None:
    ledger = VersionLedger({"c1": 5})
    assert ledger.admit("c1", 7, "SUBSCRIPTION_ACK")  # a snapshot at version 7
    assert ledger.last("c1") == 5
    # The alert of the change that made version 7 is not lost behind the snapshot.
    assert ledger.admit("c1", 7, "ALERT")
    assert ledger.admit("c1", 3, "SUBSCRIPTION_ACK")
    assert ledger.admit("c1", 0, "NO_DATA_YET") and ledger.admit("c1", 0, "SUBSCRIPTION_REJECT")
    assert not ledger.admit("c1", 7, "PROFILE_UPDATE")
    assert ledger.last("c1") == 7 and ledger.take_changes() == {"c1": 7}


def test_restore_undoes_an_admission() -> None:
    ledger = VersionLedger({"c1": 2})
    assert ledger.admit("c1", 3, "ALERT")
    ledger.restore("c1", 2)
    assert ledger.admit("c1", 3, "ALERT")
    assert ledger.admit("c2", 1, "ALERT")
    ledger.restore("c2", None)
    assert ledger.last("c2") is None and "c2" not in ledger.take_changes()


def test_store_persists_changes_and_belongs_to_one_bank(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    store = LedgerStore(path, "b1")
    ledger = VersionLedger(store.load())
    ledger.admit("c1", 4, "PROFILE_UPDATE")
    ledger.admit("c2", 9, "ALERT")
    store.save(ledger.take_changes())
    ledger.admit("c1", 5, "PROFILE_UPDATE")
    store.save(ledger.take_changes())
    store.close()
    again = LedgerStore(path, "b1")
    assert again.load() == {"c1": 5, "c2": 9}
    again.close()
    with pytest.raises(ValueError, match="ledger of bank 'b1'"):
        LedgerStore(path, "b2")

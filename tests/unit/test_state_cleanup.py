"""Stores of partitions no longer owned: kept for ``state_cleanup_delay_s``, then gone."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from streams.runtime.state import PartitionStore, StateCleaner


def closed_store(root: Path, partition: int, ago_s: float) -> Path:
    """A real store of ``partition``, closed ``ago_s`` seconds ago."""
    path = root / str(partition)
    store = PartitionStore.open(path)
    store.apply({b"k": b"v"}, 1)
    store.close()
    at = time.time() - ago_s
    os.utime(path, (at, at))
    return path


def test_closing_a_store_marks_when_it_was_last_owned(tmp_path: Path) -> None:
    path = closed_store(tmp_path, 0, ago_s=3600)
    PartitionStore.open(path).close()
    assert time.time() - path.stat().st_mtime < 60


def test_unowned_stores_closed_past_the_delay_go_and_the_rest_stay(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    old = closed_store(tmp_path, 1, ago_s=700)
    recent = closed_store(tmp_path, 2, ago_s=10)
    owned_old = closed_store(tmp_path, 3, ago_s=700)
    (tmp_path / "notes").mkdir()  # not a partition: never touched
    cleaner = StateCleaner(tmp_path, delay_s=600)
    with caplog.at_level("INFO"):
        assert cleaner.clean(owned=[3]) == [1]
    assert not old.exists() and recent.exists() and owned_old.exists()
    assert (tmp_path / "notes").exists()
    assert "state_cleanup_delay_s" in caplog.text and str(old) in caplog.text
    assert PartitionStore.open(old).offset is None  # it comes back empty: a full restore


def test_nothing_is_deleted_before_the_stage_owns_a_partition(tmp_path: Path) -> None:
    """A worker just (re)started does not know yet which stores it gets back."""
    old = closed_store(tmp_path, 1, ago_s=10_000)
    cleaner = StateCleaner(tmp_path, delay_s=600)
    assert cleaner.clean(owned=[]) == []
    assert old.exists()


def test_a_missing_state_dir_is_nothing_to_clean(tmp_path: Path) -> None:
    assert StateCleaner(tmp_path / "absent", delay_s=0).clean(owned=[0]) == []

"""The on-disk partition store: atomic writes with their changelog offset, wipes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.runtime.state import PartitionStore

keys = st.binary(min_size=1, max_size=8)
batches = st.lists(
    st.dictionaries(keys, st.none() | st.binary(max_size=40), max_size=6), max_size=12
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(batches)
def test_the_store_holds_what_the_batches_wrote_and_the_offset_they_reached(
    tmp_path_factory: pytest.TempPathFactory, writes: list[dict[bytes, bytes | None]]
) -> None:
    path = tmp_path_factory.mktemp("store")
    model: dict[bytes, bytes] = {}
    store = PartitionStore.open(path)
    assert store.offset is None
    for offset, batch in enumerate(writes):
        store.apply(batch, offset * 3)
        for k, v in batch.items():
            if v is None:
                model.pop(k, None)
            else:
                model[k] = v
    store.close()
    again = PartitionStore.open(path)  # what survives a restart
    assert dict(again.items()) == model
    assert again.offset == (None if not writes else (len(writes) - 1) * 3)
    for k, value in model.items():
        assert again.get(k) == value
    again.close()


def test_an_offset_never_goes_back(tmp_path: Path) -> None:
    store = PartitionStore.open(tmp_path / "s")
    store.apply({b"a": b"1"}, 10)
    with pytest.raises(ValueError, match="behind"):
        store.apply({b"a": b"2"}, 9)
    assert store.get(b"a") == b"1" and store.offset == 10
    store.close()


def test_wipe_empties_the_store_and_forgets_the_offset(tmp_path: Path) -> None:
    store = PartitionStore.open(tmp_path / "s")
    store.apply({b"a": b"1", b"b": b"2"}, 5)
    store.wipe("the changelog no longer holds offset 5")
    assert store.offset is None and list(store.items()) == []
    store.apply({b"c": b"3"}, 7)
    store.close()
    again = PartitionStore.open(tmp_path / "s")
    assert dict(again.items()) == {b"c": b"3"} and again.offset == 7
    assert again.size_bytes() > 0
    again.close()


def test_an_unreadable_store_is_wiped_and_starts_empty(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "s"
    store = PartitionStore.open(path)
    store.apply({b"a": b"1"}, 3)
    store.close()
    for f in path.iterdir():  # garbage where RocksDB keeps its manifest and tables
        if f.is_file() and (f.name.startswith("MANIFEST") or f.name == "CURRENT"):
            f.write_bytes(b"not rocksdb")
    again = PartitionStore.open(path)
    assert again.offset is None and list(again.items()) == []
    assert "unreadable" in caplog.text and "restoring in full" in caplog.text
    again.close()


def test_a_closed_store_refuses_use(tmp_path: Path) -> None:
    store = PartitionStore.open(tmp_path / "s")
    store.close()
    with pytest.raises(ValueError, match="closed"):
        store.get(b"a")


_CRASH = """
import os, sys
import subprocess
import sys
from pathlib import Path
from streams.runtime.state import PartitionStore
store = PartitionStore.open(Path(sys.argv[1]))
store.apply({b"c": b"3"}, 7)
store.flush()  # as the stages do after a recovery and every state_flush_every_s
store.apply({b"b": b"2", b"a": None}, 9)
os._exit(0)  # a crash: no close
"""


def test_a_crash_leaves_the_store_behind_but_whole(tmp_path: Path) -> None:
    """Writes skip RocksDB's write-ahead log (the changelog is the log): a process that
    dies loses its unflushed writes, records and offset together, so the store reopens
    at an older offset with exactly the records of that offset: its last flush."""
    path = tmp_path / "s"
    store = PartitionStore.open(path)
    store.apply({b"a": b"1"}, 5)
    store.close()  # a clean close flushes
    done = subprocess.run([sys.executable, "-c", _CRASH, str(path)], check=False, timeout=60)
    assert done.returncode == 0
    again = PartitionStore.open(path)
    assert again.offset == 7
    assert list(again.items()) == [(b"a", b"1"), (b"c", b"3")]
    again.close()

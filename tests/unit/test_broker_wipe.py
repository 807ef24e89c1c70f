"""``broker wipe`` deletes only a broker data dir creditstream made (no broker needed)."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest

from streams.cli import main
from streams.errors import BrokerError
from streams.localkafka import BrokerSpec, start, wipe
from streams.localkafka.datadir import MARKER, admin_password, claim_data_dir, is_data_dir
from streams.localkafka.properties import render, server_properties


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _spec(data_dir: Path) -> BrokerSpec:
    return BrokerSpec(
        data_dir=data_dir,
        cache_dir=data_dir.parent / "cache",
        version="4.0.0",
        port=_free_port(),
        controller_port=_free_port(),
    )


def _project(root: Path) -> Path:
    """Someone's folder that a mistyped --data-dir could name."""
    (root / "src").mkdir(parents=True)
    (root / "src" / "main.py").write_text("print('precious')\n")
    (root / "README.md").write_text("my project\n")
    return root


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def _laid_out(data_dir: Path, *, marker: bool = True) -> Path:
    """A data dir as start() leaves it (config, formatted logs, state, server.log)."""
    if marker:
        claim_data_dir(data_dir)  # what start() calls first
    (data_dir / "config").mkdir(parents=True)
    props = server_properties(
        port=9092, controller_port=9093, log_dir=data_dir / "logs", mode="plain"
    )
    (data_dir / "config" / "server.properties").write_text(render(props))
    (data_dir / "logs" / "t-0").mkdir(parents=True)
    (data_dir / "logs" / "meta.properties").write_text("node.id=1\n")
    (data_dir / "logs" / "t-0" / "00000000000000000000.log").write_bytes(b"\0" * 64)
    (data_dir / "server.log").write_text("started\n")
    return data_dir


def _wipe_cli(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["broker", "wipe", "--data-dir", str(data_dir)])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_folder_that_is_not_a_data_dir_is_refused_and_left_intact(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = _project(tmp_path / "project")
    before = _files(project)
    with pytest.raises(BrokerError, match="not a creditstream broker data dir"):
        wipe(_spec(project))
    code, out, err = _wipe_cli(project, capsys)
    assert code == 1
    assert out == ""
    assert err == (
        f"creditstream: error: {project} is not a creditstream broker data dir "
        f"(no {MARKER} file): not wiped; delete it by hand if you are sure\n"
    )
    assert _files(project) == before


def test_a_missing_or_empty_dir_is_nothing_to_wipe(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "typo"
    assert wipe(_spec(missing)) is False
    assert _wipe_cli(missing, capsys) == (0, f"nothing to wipe at {missing}\n", "")
    assert not missing.exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    assert _wipe_cli(empty, capsys) == (0, f"nothing to wipe at {empty}\n", "")
    assert empty.is_dir()  # not ours: left in place


def test_a_data_dir_made_by_start_is_wiped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir = _laid_out(tmp_path / "broker")
    assert (data_dir / MARKER).is_file()
    assert is_data_dir(data_dir)
    assert _wipe_cli(data_dir, capsys) == (0, f"wiped {data_dir}\n", "")
    assert not data_dir.exists()
    assert _wipe_cli(data_dir, capsys) == (0, f"nothing to wipe at {data_dir}\n", "")


def test_a_secure_data_dir_gets_the_marker_with_its_admin_secret(tmp_path: Path) -> None:
    spec = _spec(tmp_path / "secure" / "broker")
    admin_password(spec)  # may run before start (a client config): it creates the dir
    assert (spec.data_dir / MARKER).is_file()
    assert wipe(spec) is True
    assert not spec.data_dir.exists()


def test_a_running_brokers_dir_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir = _laid_out(tmp_path / "broker")
    state = {"pid": os.getpid(), "mode": "plain", "version": "4.0.0"}
    (data_dir / "broker.json").write_text(
        json.dumps(state | {"port": 9092, "controller_port": 9093})
    )
    before = _files(data_dir)
    code, out, err = _wipe_cli(data_dir, capsys)
    assert (code, out) == (1, "")
    assert err == (
        f"creditstream: error: the broker in {data_dir} is running: stop it first "
        f"(creditstream broker stop --data-dir {data_dir})\n"
    )
    assert _files(data_dir) == before


def test_a_data_dir_from_before_the_marker_is_recognised(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = _laid_out(tmp_path / "old", marker=False)
    assert not (old / MARKER).exists()
    assert is_data_dir(old)
    assert _wipe_cli(old, capsys) == (0, f"wiped {old}\n", "")
    # The same files naming another folder's logs/ (copied, moved) are not enough.
    moved = _laid_out(tmp_path / "elsewhere", marker=False).rename(tmp_path / "moved")
    assert not is_data_dir(moved)
    assert _wipe_cli(moved, capsys)[0] == 1
    assert (moved / "config" / "server.properties").is_file()


def test_start_neither_writes_into_nor_marks_someone_elses_folder(tmp_path: Path) -> None:
    project = _project(tmp_path / "project")
    before = _files(project)
    with pytest.raises(BrokerError, match="is not empty and is not a creditstream broker"):
        start(_spec(project))  # refused before any download or Java
    assert _files(project) == before
    old = _laid_out(tmp_path / "old", marker=False)
    claim_data_dir(old)  # what start() does with a data dir from before the marker
    assert (old / MARKER).is_file()


def test_links_and_files_are_refused(tmp_path: Path) -> None:
    data_dir = _laid_out(tmp_path / "broker")
    link = tmp_path / "link"
    link.symlink_to(data_dir)
    with pytest.raises(BrokerError, match="is a symbolic link: not wiped"):
        wipe(_spec(link))
    a_file = tmp_path / "notes.txt"
    a_file.write_text("keep")
    with pytest.raises(BrokerError, match="is not a directory: not wiped"):
        wipe(_spec(a_file))
    assert data_dir.is_dir()
    assert a_file.read_text() == "keep"


def test_broker_help_describes_every_action(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["broker", "--help"])
    out = capsys.readouterr().out
    for action in ("install", "start", "status", "stop", "kill", "wipe"):
        assert any(
            line.split()[:1] == [action] and len(line.split()) > 3 for line in out.splitlines()
        ), action
    assert MARKER in out

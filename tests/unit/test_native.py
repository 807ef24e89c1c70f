"""The compiled hot path (``streams.native``, ``setup.py``): which modules run compiled,
and that a stale or unwanted build never runs.

In CI (and ``./run test``) the checkout is built first, so the suite tests the compiled
modules, and :func:`test_the_hot_path_runs_compiled` fails if it did not.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.machinery
import json
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from streams import native
from tests.tools import tools_required

REPO = Path(__file__).resolve().parents[2]
SUFFIX = importlib.machinery.EXTENSION_SUFFIXES[0]


def listed() -> list[str]:
    with (REPO / "pyproject.toml").open("rb") as f:
        return list(tomllib.load(f)["tool"]["creditstream"]["compiled"])


def fake_build(root: Path, sources: dict[str, str], record: bool = True) -> Path:
    """A package ``pkgx`` under ``root`` with ``sources`` (module -> text), an
    "extension" beside each (not a loadable one) and the build's record of them."""
    pkg = root / "pkgx"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    hashes = {}
    for name, text in sources.items():
        (pkg / f"{name}.py").write_text(text)
        (pkg / f"{name}{SUFFIX}").write_bytes(b"not an ELF file")
        hashes[f"pkgx.{name}"] = hashlib.sha256(text.encode()).hexdigest()
    out = root / "record.json"
    if record:
        out.write_text(json.dumps({"modules": hashes}))
    return out


def test_a_fresh_build_runs_compiled(tmp_path: Path) -> None:
    record = fake_build(tmp_path, {"a": "X = 1\n", "b": "Y = 2\n"})
    status = native.read_status(record, tmp_path, {})
    assert status == native.NativeStatus(("pkgx.a", "pkgx.b"), (), False)
    assert status.compiled
    assert status.describe() == "hot path: compiled (2 modules, mypyc)"


def test_an_edited_source_makes_the_build_stale(tmp_path: Path) -> None:
    record = fake_build(tmp_path, {"a": "X = 1\n", "b": "Y = 2\n"})
    (tmp_path / "pkgx" / "b.py").write_text("Y = 3\n")
    status = native.read_status(record, tmp_path, {})
    assert status.stale == ("pkgx.b",)
    assert not status.compiled
    assert "older than the source of pkgx.b;" in status.describe()
    assert "pip install -e ." in status.describe()


def test_pure_python_can_be_asked_for(tmp_path: Path) -> None:
    record = fake_build(tmp_path, {"a": "X = 1\n"})
    status = native.read_status(record, tmp_path, {native.PURE_ENV: "1"})
    assert status.built == ("pkgx.a",)
    assert not status.compiled
    assert f"{native.PURE_ENV}=1" in status.describe()


def test_without_a_record_or_an_extension_nothing_is_compiled(tmp_path: Path) -> None:
    record = fake_build(tmp_path, {"a": "X = 1\n"}, record=False)
    assert native.read_status(record, tmp_path, {}) == native.NativeStatus((), (), False)
    record.write_text(json.dumps({"modules": {"pkgx.a": "0" * 64, "pkgx.gone": "0" * 64}}))
    (tmp_path / "pkgx" / f"a{SUFFIX}").unlink()
    status = native.read_status(record, tmp_path, {})
    assert status.built == ()
    assert status.describe() == "hot path: pure Python (this install compiled nothing)"


@pytest.fixture
def on_path(tmp_path: Path) -> Iterator[Path]:
    sys.path.insert(0, str(tmp_path))
    before = list(sys.meta_path)
    yield tmp_path
    sys.meta_path[:] = before
    sys.path.remove(str(tmp_path))
    for name in [m for m in sys.modules if m == "pkgx" or m.startswith("pkgx.")]:
        del sys.modules[name]


def test_a_stale_build_loads_every_recorded_module_from_source(on_path: Path) -> None:
    record = fake_build(on_path, {"a": "X = 1\n", "b": "Y = 2\n"})
    (on_path / "pkgx" / "a.py").write_text("X = 10\n")
    status = native.read_status(record, on_path, {})
    with pytest.raises(ImportError):  # Python prefers the (here broken) extension
        importlib.import_module("pkgx.b")
    native.install(status, on_path)
    a, b = importlib.import_module("pkgx.a"), importlib.import_module("pkgx.b")
    assert (a.X, b.Y) == (10, 2)  # the unedited module from source too
    assert b.__file__ == str(on_path / "pkgx" / "b.py")


def test_a_fresh_build_adds_no_hook(tmp_path: Path) -> None:
    before = list(sys.meta_path)
    native.install(
        native.read_status(fake_build(tmp_path, {"a": "X = 1\n"}), tmp_path, {}), tmp_path
    )
    assert sys.meta_path == before


def test_the_hot_path_runs_compiled() -> None:
    """The installed checkout: every listed module is built, fresh, and imported as its
    extension. Skips on a checkout never built (or asked to run pure) unless tools are
    required, as under ./run test and CI, which build it first."""
    status = native.STATUS
    if not tools_required() and (status.pure_asked or not status.built):
        pytest.skip(f"{status.describe()}; required in CI")
    assert status.compiled, status.describe()
    assert sorted(status.built) == sorted(listed())
    for name in listed():
        assert str(importlib.import_module(name).__file__).endswith(SUFFIX), name

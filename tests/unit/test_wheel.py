"""The wheel a normal ``pip install .`` builds: it must carry the schemas and work alone.

The slow test builds the wheel from a copy of the checkout, installs it (no deps) into a
fresh venv in a temp dir, and runs it from a temp dir outside the checkout. The project
venv's dependencies are made visible through a ``.pth`` line naming its site-packages: a
path added that way has its own ``.pth`` files ignored, so the checkout's editable
install hook stays off and ``streams`` can only come from the installed wheel.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

import pytest

from streams.wire.schemas import SCHEMA_DIR, load_schemas, released_versions

REPO = Path(__file__).resolve().parents[2]
# Ignored by git (see .gitignore): never part of what a build sees.
_NOT_SOURCE = shutil.ignore_patterns(
    ".git",
    ".venv",
    "build",
    "dist",
    "*.egg-info",
    "__pycache__",
    "*.pyc",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
    ".hypothesis",
    ".creditstream",
    "*.so",
    "_native.json",
)

PROBE = """
import json, sys
import streams, streams.native, streams.wire.schemas as s
from streams.wire.avrojson import iter_examples
from streams.wire.codec import SingleObjectCodec
SingleObjectCodec()  # current and released schemas, as a worker builds it
print(json.dumps({
    "streams": streams.__file__,
    "schema_dir": str(s.SCHEMA_DIR),
    "names": s.load_schemas().names(),
    "released": s.released_versions(),
    "examples": len(list(iter_examples())),
    "sys_path": sys.path,
    "compiled": streams.native.STATUS.compiled,
    "fold": __import__("streams.domain.profile.fold").domain.profile.fold.__file__,
}))
"""


def test_every_streams_package_is_listed_in_pyproject() -> None:
    listed = set(
        tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    found = {
        ".".join(init.parent.relative_to(REPO).parts)
        for init in (REPO / "streams").rglob("__init__.py")
    }
    assert found - listed == set(), "add these to [tool.setuptools] packages in pyproject.toml"
    assert listed - found == {"streams._schemas"}


def test_checkout_reads_the_one_schemas_folder() -> None:
    assert SCHEMA_DIR == REPO / "schemas"


def _venv_bin(venv: Path, name: str) -> Path:
    return venv / ("Scripts" if os.name == "nt" else "bin") / name


@pytest.mark.slow
def test_installed_wheel_ships_schemas_and_runs_outside_the_checkout(tmp_path: Path) -> None:
    source, dist, venv, elsewhere = (tmp_path / d for d in ("src", "dist", "venv", "cwd"))
    shutil.copytree(REPO, source, ignore=_NOT_SOURCE)
    elsewhere.mkdir()
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--quiet",
            "-w",
            str(dist),
            str(source),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert build.returncode == 0, build.stderr
    (wheel,) = dist.glob("creditstream-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
    assert "streams/py.typed" in names
    assert not [n for n in names if n.startswith(("tests/", "bench/", "schemas/"))]
    assert sum(n.startswith("streams/_schemas/released/") for n in names) > 0
    # The hot path compiled (setup.py): each listed module's extension beside its source,
    # the shared library, and the build's record.
    compiled = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["creditstream"]
    for module in compiled["compiled"]:
        stem = module.replace(".", "/")
        assert f"{stem}.py" in names
        assert [n for n in names if n.startswith(f"{stem}.") and n.endswith(".so")], module
    assert [n for n in names if n.startswith("creditstream_native__mypyc")]
    assert "streams/_native.json" in names

    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = _venv_bin(venv, "python")
    install = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--no-deps",
            "--quiet",
            str(wheel),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert install.returncode == 0, install.stderr
    venv_site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    # Dependencies only: the project venv's .pth files (the editable hook) are not read.
    (venv_site / "zz_project_deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["PYTHONSAFEPATH"] = "1"

    probe = subprocess.run(
        [str(python), "-c", PROBE],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert probe.returncode == 0, probe.stderr
    got = json.loads(probe.stdout)
    assert Path(got["streams"]).resolve().is_relative_to(venv.resolve()), got["streams"]
    assert Path(got["schema_dir"]) == Path(got["streams"]).parent / "_schemas"
    assert str(REPO) not in [str(Path(p).resolve()) for p in got["sys_path"] if p]
    assert got["names"] == load_schemas().names()
    assert got["released"] == released_versions()
    assert got["examples"] > 0
    assert got["compiled"], "the installed wheel runs its hot path compiled"
    assert got["fold"].endswith(".so"), got["fold"]

    cli = subprocess.run(
        [str(_venv_bin(venv, "creditstream")), "--help"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert cli.returncode == 0, cli.stderr
    assert "broker" in cli.stdout

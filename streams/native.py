"""Whether the hot path runs compiled, and the switch back to its pure Python.

The modules pyproject.toml lists under ``[tool.creditstream] compiled`` are compiled by
mypyc when the package is built (``setup.py``), each to an extension beside its ``.py``;
Python's import system prefers the extension. The build records every listed module's
source hash in ``streams/_native.json``.

Contract, settled once when ``streams`` is first imported (:data:`STATUS`):

* no record, or no extension for any recorded module: nothing was compiled, everything
  runs from source (a checkout never built, or ``CREDITSTREAM_PURE_PYTHON=1`` at build);
* a recorded module's source differs from its hash (edited since the build) or
  ``CREDITSTREAM_PURE_PYTHON=1`` at run time: EVERY recorded module is loaded from its
  ``.py`` (an import hook placed first), never some compiled and some not: compiled
  modules call one another directly in C, so an edited module would be bypassed by
  its compiled callers;
* otherwise the extensions run (:attr:`NativeStatus.compiled`).

The worker logs :meth:`NativeStatus.describe` at start and exports
``creditstream_fast_path{part="compiled"}`` per stage; the same records and the same
outputs either way, only the CPU per event differs (bench/results/native_ab.json).
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

PURE_ENV = "CREDITSTREAM_PURE_PYTHON"
_ROOT = Path(__file__).resolve().parent.parent  # holds the ``streams`` package
RECORD = _ROOT / "streams" / "_native.json"


@dataclass(frozen=True, slots=True)
class NativeStatus:
    """What the build compiled (``built``: recorded modules with an extension), which
    of them changed since (``stale``), and whether pure Python was asked for."""

    built: tuple[str, ...]
    stale: tuple[str, ...]
    pure_asked: bool

    @property
    def compiled(self) -> bool:
        """The recorded modules run as their extensions."""
        return bool(self.built) and not self.stale and not self.pure_asked

    def describe(self) -> str:
        """One line for the worker's start-up log."""
        if not self.built:
            return "hot path: pure Python (this install compiled nothing)"
        if self.pure_asked:
            return f"hot path: pure Python ({PURE_ENV}=1; {len(self.built)} modules built)"
        if self.stale:
            names = ", ".join(self.stale[:3]) + (", ..." if len(self.stale) > 3 else "")
            return (
                f"hot path: pure Python: the build is older than the source of {names}; "
                "rebuild: pip install -e ."
            )
        return f"hot path: compiled ({len(self.built)} modules, mypyc)"


def source_path(module: str, root: Path = _ROOT) -> Path:
    return root.joinpath(*module.split(".")).with_suffix(".py")


def has_extension(module: str, root: Path = _ROOT) -> bool:
    src = source_path(module, root)
    return any(
        src.with_name(src.stem + suffix).exists()
        for suffix in importlib.machinery.EXTENSION_SUFFIXES
    )


def read_status(
    record: Path = RECORD, root: Path = _ROOT, environ: Mapping[str, str] = os.environ
) -> NativeStatus:
    """The status of the install under ``root`` (see the module contract)."""
    pure = environ.get(PURE_ENV) == "1"
    try:
        hashes: dict[str, str] = json.loads(record.read_text())["modules"]
    except (OSError, ValueError, KeyError, TypeError):
        return NativeStatus((), (), pure)
    built = tuple(m for m in sorted(hashes) if has_extension(m, root))
    stale = tuple(
        m
        for m in built
        if not source_path(m, root).exists()
        or hashlib.sha256(source_path(m, root).read_bytes()).hexdigest() != hashes[m]
    )
    return NativeStatus(built, stale, pure)


class SourceFirst(importlib.abc.MetaPathFinder):
    """Finds ``modules`` as their ``.py`` files, ahead of any extension beside them."""

    def __init__(self, modules: Sequence[str], root: Path = _ROOT) -> None:
        self.modules = frozenset(modules)
        self.root = root

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in self.modules:
            return None
        return importlib.util.spec_from_file_location(fullname, source_path(fullname, self.root))


def install(status: NativeStatus, root: Path = _ROOT) -> None:
    """Put the source-first hook in place when ``status`` (of the install under
    ``root``) says the build must not run."""
    if status.built and not status.compiled:
        sys.meta_path.insert(0, SourceFirst(status.built, root))


STATUS = read_status()
install(STATUS)

"""Build hook: compiles the hot path with mypyc; everything else is in pyproject.toml.

The modules listed under ``[tool.creditstream] compiled`` in pyproject.toml are compiled
to C extensions from their own (mypy --strict) source, next to the ``.py`` they come
from: ``pip install .`` puts both in the wheel, ``pip install -e .`` builds them in the
checkout. ``streams/_native.json`` records each module's source hash at build time, so
``streams.native`` can tell a stale build (a source edited since) at import and load the
pure Python instead of an extension that no longer matches its source.

``CREDITSTREAM_PURE_PYTHON=1`` builds nothing (and removes an earlier in-place build and
its record); so does a machine where no C compiler can build against Python's headers
(probed first, with a message). A compile that fails otherwise fails the install: a
half-built hot path (the shared library missing, the modules present) would not import.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from setuptools import setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).resolve().parent
RECORD = ROOT / "streams" / "_native.json"


def compiled_modules() -> list[str]:
    """The module names pyproject.toml lists for compilation."""
    with (ROOT / "pyproject.toml").open("rb") as f:
        return list(tomllib.load(f)["tool"]["creditstream"]["compiled"])


def source_of(module: str) -> Path:
    return ROOT.joinpath(*module.split(".")).with_suffix(".py")


def compiler_works() -> bool:
    """Whether the platform's C compiler builds an object against Python.h."""
    from setuptools._distutils.ccompiler import new_compiler
    from setuptools._distutils.sysconfig import customize_compiler, get_python_inc

    compiler = new_compiler()
    customize_compiler(compiler)
    with tempfile.TemporaryDirectory() as tmp:
        probe = Path(tmp, "probe.c")
        probe.write_text("#include <Python.h>\nint probe(void) { return 0; }\n")
        try:
            compiler.compile([str(probe)], output_dir=tmp, include_dirs=[get_python_inc()])
        except Exception:  # CompileError, or no compiler at all
            return False
    return True


def remove_build() -> None:
    """Delete an earlier in-place build (``pip install -e .``): its extensions would
    still be imported before the sources, and without the record nothing tells."""
    RECORD.unlink(missing_ok=True)
    for module in compiled_modules():
        source = source_of(module)
        for built in source.parent.glob(f"{source.stem}.*.so"):
            built.unlink()
    for shared in ROOT.glob("creditstream_native__mypyc.*.so"):
        shared.unlink()


def ext_modules() -> list[Any]:
    if os.environ.get("CREDITSTREAM_PURE_PYTHON") == "1":
        remove_build()
        return []
    if not compiler_works():
        print("creditstream: no working C compiler: installing the pure Python hot path")
        remove_build()
        return []
    from mypyc.build import mypycify

    modules = compiled_modules()
    hashes = {m: hashlib.sha256(source_of(m).read_bytes()).hexdigest() for m in modules}
    RECORD.write_text(json.dumps({"modules": hashes}, indent=1, sort_keys=True) + "\n")
    os.chdir(ROOT)  # mypyc names modules by their path relative to the working directory
    options = [
        # No config file: pyproject's [tool.mypy] names a plugin the build environment
        # lacks. CI type-checks strictly; here only the compiled modules' errors count.
        "--config-file=",
        "--ignore-missing-imports",
        "--follow-imports=silent",
        "--python-version=3.11",
    ]
    paths = [str(source_of(m).relative_to(ROOT)) for m in modules]
    # The modules' shared library is the top-level creditstream_native__mypyc (mypyc
    # cannot name it inside a package).
    return list(
        mypycify(options + paths, opt_level="3", multi_file=True, group_name="creditstream_native")
    )


class BuildExt(build_ext):
    """build_ext compiling an extension's C files on every core: the shared library
    is one C file per module (multi_file), which setuptools would compile one by one."""

    def build_extensions(self) -> None:
        compile_serially = self.compiler.compile

        def compile_in_parallel(sources: list[str], *args: Any, **kwargs: Any) -> list[str]:
            with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
                done = pool.map(lambda src: compile_serially([src], *args, **kwargs), sources)
                return [obj for objects in done for obj in objects]

        self.compiler.compile = compile_in_parallel
        super().build_extensions()


setup(ext_modules=ext_modules(), cmdclass={"build_ext": BuildExt})

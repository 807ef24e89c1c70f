"""External tools some tests need (installed by ``deploy/local/install-prometheus.sh``).

``./run test`` installs them first and sets ``CREDITSTREAM_REQUIRE_TOOLS=1``, as CI does
with ``CI=true``: there a missing tool fails the test. A bare ``pytest`` on a machine
without them skips those tests, saying why.
"""

from __future__ import annotations

import os
import shutil

import pytest

_TRUE = {"1", "true", "yes"}


def tools_required() -> bool:
    """Whether a missing tool (or build) must fail a test: under CI or ``./run test``."""
    return (
        os.environ.get("CI", "").lower() in _TRUE
        or os.environ.get("CREDITSTREAM_REQUIRE_TOOLS", "").lower() in _TRUE
    )


def installed_tool(name: str) -> str:
    """The path of ``name``; fails when tools are required, else skips, if missing."""
    path = shutil.which(name)
    if path:
        return path
    if tools_required():
        pytest.fail(f"{name} is missing: run deploy/local/install-prometheus.sh first")
    pytest.skip(f"{name} not installed (deploy/local/install-prometheus.sh); required in CI")

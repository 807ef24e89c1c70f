"""checkov over deploy/ (Kubernetes manifests and the Dockerfile): no failed check, and
every skip says why in place (``checkov.io/skipN`` annotations).

checkov lives in a venv of its own (``deploy/local/install-checkov.sh``, which
``./run test`` calls and names in ``CREDITSTREAM_CHECKOV``), so its dependencies never
meet the project's. Offline: ``--skip-download``.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from streams.settings import default_cache_dir
from tests.tools import installed_tool

ROOT = Path(__file__).resolve().parents[2]


def checkov() -> str:
    named = os.environ.get("CREDITSTREAM_CHECKOV")
    if named:
        return named
    cached = sorted(default_cache_dir().glob("checkov-*/bin/checkov"))
    return str(cached[-1]) if cached else installed_tool("checkov")


def reports() -> list[dict[str, Any]]:
    res = subprocess.run(
        [checkov(), "-d", str(ROOT / "deploy"), "--framework", "kubernetes", "dockerfile",
         "--skip-download", "-o", "json"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert res.returncode in (0, 1), res.stderr[-2000:]
    found = json.loads(res.stdout)
    return found if isinstance(found, list) else [found]


@pytest.fixture(scope="module")
def results() -> list[dict[str, Any]]:
    return reports()


def test_deploy_passes_checkov(results: list[dict[str, Any]]) -> None:
    kinds = {r["check_type"] for r in results}
    assert {"kubernetes", "dockerfile"} <= kinds, kinds
    failed = [
        (c["check_id"], c["check_name"], c["resource"])
        for r in results
        for c in r["results"].get("failed_checks", [])
    ]
    assert not failed, failed
    assert all(r["summary"]["passed"] > 20 for r in results)


def test_every_skip_is_justified_in_place(results: list[dict[str, Any]]) -> None:
    skipped = [c for r in results for c in r["results"].get("skipped_checks", [])]
    for check in skipped:
        why = check["check_result"].get("suppress_comment") or ""
        assert len(why) > 20, (check["check_id"], check["resource"])

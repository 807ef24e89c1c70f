"""The client floor the README states is what the project requires and runs with."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import confluent_kafka

ROOT = Path(__file__).resolve().parents[2]


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split("."))


def test_readme_floor_matches_the_requirement_and_the_installed_client() -> None:
    readme = (ROOT / "README.md").read_text()
    (floor,) = set(re.findall(r"librdkafka older than \*\*([0-9.]+)\*\*", readme))
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    (pin,) = [d for d in deps if d.startswith("confluent-kafka")]
    assert f">={floor}" in pin  # confluent-kafka X.Y.Z bundles librdkafka X.Y.Z
    assert _version(confluent_kafka.libversion()[0]) >= _version(floor)

"""The package layout is the architecture: a wrong import fails here.

Layers, lowest first: the top-level facts (``topics``, ``topology``, ``settings``, ``native``,
``errors``, ``clock``), ``wire`` (the bytes on topics), ``domain`` (pure rules), ``runtime`` and
``localkafka`` (the exactly-once machinery, the local broker), then ``stages``, ``sdk``,
``ops`` and ``simulator``, then ``worker``, then ``commands`` and ``cli``. A module imports
only from its own layer or below; ``wire`` and ``domain`` import no Kafka client or
framework; only ``worker`` imports ``stages``, and a stage imports no other stage.
Imports inside functions count too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "streams"
TOP = {"topics", "topology", "settings", "errors", "clock", "native", "__init__"}
LAYER = {
    "top": 0,
    "wire": 1,
    "domain": 2,
    "runtime": 3,
    "localkafka": 3,
    "stages": 4,
    "sdk": 4,
    "ops": 4,
    "simulator": 4,
    "worker": 5,
    "commands": 6,
    "cli": 6,
}
KAFKA = {"confluent_kafka", "faust", "mode", "aiokafka"}


def part(module: str) -> str:
    """The layer name of a ``streams`` module (``streams.stages.x`` -> ``stages``)."""
    parts = module.split(".")
    if len(parts) == 1 or parts[1] in TOP:
        return "top"
    return parts[1]


def imports(path: Path) -> list[str]:
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "streams":  # ``from streams import topics``
                found += [f"streams.{a.name}".removesuffix(".__version__") for a in node.names]
            else:
                found.append(node.module)
    return found


def problems(module: str, imported: list[str]) -> list[str]:
    """What is wrong with ``module`` importing ``imported`` (empty when nothing is)."""
    mine = part(module)
    out = []
    for name in imported:
        root = name.split(".")[0]
        if root in KAFKA and mine in {"wire", "domain"}:
            out.append(f"{module} imports {name}: {mine}/ stays free of Kafka clients")
        if root != "streams":
            continue
        theirs = part(name)
        if theirs not in LAYER:
            out.append(f"{module} imports {name}: streams.{theirs} is in no layer")
        elif LAYER[theirs] > LAYER[mine]:
            out.append(f"{module} imports {name}: {theirs} is above {mine}")
        elif (
            theirs == "stages"
            and mine != "worker"
            and (mine != "stages" or name.split(".")[:3] != module.split(".")[:3])
        ):
            out.append(f"{module} imports {name}: only worker/ imports a stage")
    return out


def modules() -> list[tuple[str, Path]]:
    found = []
    for path in sorted(ROOT.rglob("*.py")):
        dotted = ".".join(path.relative_to(ROOT.parent).with_suffix("").parts)
        found.append((dotted.removesuffix(".__init__"), path))
    return found


def test_every_module_imports_only_at_or_below_its_layer() -> None:
    wrong = [p for module, path in modules() for p in problems(module, imports(path))]
    assert wrong == []


def test_every_package_is_in_a_layer() -> None:
    names = {part(module) for module, _ in modules()}
    assert names <= set(LAYER), sorted(names - set(LAYER))


@pytest.mark.parametrize(
    ("module", "imported", "why"),
    [
        ("streams.domain.privacy", "confluent_kafka", "free of Kafka clients"),
        ("streams.wire.codec", "confluent_kafka.schema_registry", "free of Kafka clients"),
        ("streams.wire.codec", "streams.domain.validation", "domain is above wire"),
        ("streams.domain.audit", "streams.runtime.loop", "runtime is above domain"),
        ("streams.stages.consents.stage", "streams.stages.borrower.records", "only worker/"),
        ("streams.runtime.host", "streams.stages.ingress", "stages is above runtime"),
        ("streams.commands.demo", "streams.stages.ingress.stage", "only worker/"),
    ],
)
def test_a_wrong_import_is_caught(module: str, imported: str, why: str) -> None:
    (problem,) = problems(module, [imported])
    assert why in problem


def test_allowed_imports_pass() -> None:
    assert problems("streams.stages.borrower.stage", ["streams.stages.borrower.batch"]) == []
    assert problems("streams.worker.app", ["streams.stages.ingress.service"]) == []
    assert problems("streams.domain.validation", ["streams.wire.rejects"]) == []
    assert problems("streams.runtime.loop", ["confluent_kafka"]) == []

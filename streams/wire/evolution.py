"""Schema evolution: may a changed schema replace its newest released version?

Contract: :func:`check_backward_compatibility` compares every current schema, as reader,
with the newest released version as writer (the ``avro`` package's checker, plus a check
that logical types, decimal precision and scale did not change); ``check_pair`` with the
sides swapped is the forward check. :func:`candidate_schemas` loads a platform's changed
``.avsc`` files in place of the shipped ones, and :func:`plain_problems` turns the
checker's findings into sentences (``creditstream schemas check``). No Kafka import.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streams.errors import ConfigError
from streams.wire.schemas import (
    NAMED_TYPES,
    SCHEMA_DIR,
    SchemaSet,
    full_name,
    latest_released,
    load_schemas,
)


@dataclass(frozen=True, slots=True)
class CompatResult:
    """Outcome of one backward-compatibility check; ``status`` is COMPATIBLE/INCOMPATIBLE/NEW."""

    name: str
    status: str
    messages: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.status != "INCOMPATIBLE"


def check_pair(reader: dict[str, Any], writer: dict[str, Any]) -> tuple[str, ...]:
    """Why ``reader`` cannot read data written with ``writer``; empty when it can.

    Both are self-contained schema JSON. Uses the ``avro`` package's checker, which
    follows the spec's resolution rules but ignores logical types, so a changed decimal
    scale/precision or a dropped logical type is checked here too (it would silently
    change amounts).
    """
    from avro.compatibility import (
        ReaderWriterCompatibilityChecker,
        SchemaCompatibilityType,
    )
    from avro.schema import parse

    checker = ReaderWriterCompatibilityChecker()  # type: ignore[no-untyped-call]
    result = checker.get_compatibility(parse(json.dumps(reader)), parse(json.dumps(writer)))
    problems = []
    if result.compatibility is not SchemaCompatibilityType.compatible:
        problems.extend(
            sorted(f"{m} at {loc}" for m in result.messages for loc in result.locations)
        )
        problems.extend(str(i.value) for i in result.incompatibilities)
    problems.extend(_logical_mismatches(reader, writer, "/"))
    return tuple(problems)


def _logical_mismatches(reader: Any, writer: Any, path: str) -> list[str]:
    """Fields present in both whose logical type or decimal scale/precision differ."""
    if isinstance(reader, list) or isinstance(writer, list):
        r = [b for b in (reader if isinstance(reader, list) else [reader]) if b != "null"]
        w = [b for b in (writer if isinstance(writer, list) else [writer]) if b != "null"]
        return _logical_mismatches(r[0], w[0], path) if len(r) == 1 and len(w) == 1 else []
    if not isinstance(reader, dict) or not isinstance(writer, dict):
        return []
    if "fields" in reader and "fields" in writer:
        by_name = {f["name"]: f for f in writer["fields"]}
        out = []
        for fld in reader["fields"]:
            if fld["name"] in by_name:
                sub = f"{path}{fld['name']}/"
                out.extend(_logical_mismatches(fld["type"], by_name[fld["name"]]["type"], sub))
        return out
    if reader.get("type") == "array" and writer.get("type") == "array":
        return _logical_mismatches(reader["items"], writer["items"], path + "items/")
    attrs = ("logicalType", "precision", "scale")
    if any(reader.get(a) != writer.get(a) for a in attrs):
        before, after = [writer.get(a) for a in attrs], [reader.get(a) for a in attrs]
        return [f"logical type changed at {path}: {before} -> {after}"]
    return []


def check_backward_compatibility(
    current: SchemaSet | None = None, released: SchemaSet | None = None
) -> list[CompatResult]:
    """Check every current schema against its latest released version.

    A schema absent from the release is ``NEW`` (nothing to be compatible with).
    """
    current = current or load_schemas()
    released = released if released is not None else latest_released()
    results = []
    for name in current.names():
        if released is None or name not in released:
            results.append(CompatResult(name, "NEW"))
            continue
        problems = check_pair(current.info(name).resolved, released.info(name).resolved)
        results.append(CompatResult(name, "INCOMPATIBLE" if problems else "COMPATIBLE", problems))
    return results


# -- What ``creditstream schemas`` needs ---------------------------------------------------


def candidate_schemas(files: list[Path], base: Path = SCHEMA_DIR) -> tuple[SchemaSet, list[str]]:
    """The schemas of ``base`` with each file's named type in place of the shipped type of
    the same full name (references to the other shipped types resolve); and the full
    names the files define, in order. A file that is not JSON, or not an Avro named type,
    is a ConfigError naming the file; a missing one an OSError."""
    shipped = SchemaSet(base)
    names: list[str] = []
    for path in files:
        text = path.read_text(encoding="utf-8")
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(
                f"{path}: not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
            ) from None
        if (
            not isinstance(raw, dict)
            or raw.get("type") not in NAMED_TYPES
            or not isinstance(raw.get("name"), str)
        ):
            raise ConfigError(
                f'{path}: not an Avro named type (a JSON object with "type": "record", '
                '"enum" or "fixed" and a "name")'
            )
        ns = raw.get("namespace")
        name = full_name(raw["name"], ns if isinstance(ns, str) else None)
        if name in names:
            other = files[names.index(name)]
            raise ConfigError(f"{path}: {name} is defined in {other} too: check one at a time")
        names.append(name)
        try:
            shipped._collect(raw, ns)
        except (KeyError, TypeError, AttributeError) as exc:
            raise ConfigError(f"{path}: invalid Avro schema: {_reason(exc)}") from None
    for path, name in zip(files, names, strict=True):
        try:
            shipped.info(name)
        except Exception as exc:  # fastavro's parse errors have no common base
            raise ConfigError(f"{path}: invalid Avro schema: {_reason(exc)}") from None
    return shipped, names


def _reason(exc: BaseException) -> str:
    text = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
    return text or type(exc).__name__


def _field_path(schema: Any, location: str) -> str:
    """``facts.amount`` for an ``avro`` checker location like ``/fields/2/type/fields/0``."""
    segs = [s for s in location.split("/") if s]
    node, names, i = schema, [], 0
    while i < len(segs):
        seg = segs[i]
        if isinstance(node, dict) and not isinstance(node.get("fields"), list):
            inner = node.get("type")
            if isinstance(inner, dict | list):
                node = inner
                continue
        if seg == "fields" and isinstance(node, dict) and i + 1 < len(segs):
            fld = node["fields"][int(segs[i + 1])]
            names.append(fld["name"])
            node, i = fld["type"], i + 2
            continue
        if seg.isdigit() and isinstance(node, list):
            node = node[int(seg)]
        elif seg == "items" and isinstance(node, dict):
            node = node.get("items")
        i += 1
    return ".".join(names)


def plain_problems(
    reader: dict[str, Any],
    problems: tuple[str, ...],
    reader_label: str,
    writer_label: str,
) -> list[str]:
    """:func:`check_pair`'s findings for ``reader`` in plain sentences, each naming the
    field (a dotted path) and what each side does."""
    found: dict[str, set[str]] = {}
    logical = []
    for p in problems:
        if p.startswith("logical type changed at "):
            logical.append(p)
        elif " at /" in p:
            message, _, where = p.rpartition(" at ")
            found.setdefault(message, set()).add(where)
        # else: the checker's type code, said in words below
    record = str(reader.get("name", "the record"))
    every = {w for ws in found.values() for w in ws}
    deepest = {
        w for w in every if not any(o != w and o.startswith(w.rstrip("/") + "/") for o in every)
    }
    # The checker merges its findings' messages and locations into two sets: a missing
    # field's message is its name, which pairs it back; the rest share what is left.
    paths_of = {
        m: sorted({_field_path(reader, w) for w in ws & deepest} - {""}) for m, ws in found.items()
    }
    claimed = set()
    for message, paths in paths_of.items():
        if message.isidentifier():  # reader_field_missing_default_value: the field's name
            paths_of[message] = [p for p in paths if p.split(".")[-1] == message] or [message]
            claimed.update(paths_of[message])
    out = []
    for message in found:
        paths = paths_of[message]
        if not message.isidentifier():
            paths = [p for p in paths if p not in claimed] or paths
        where = f"field {', '.join(paths)}" if paths else record
        out.append(f"{where}: {_sentence(message, reader_label, writer_label)}")
    for p in logical:
        path, _, change = p.removeprefix("logical type changed at ").partition(": ")
        field = path.strip("/").replace("/", ".") or record
        before, _, after = change.partition(" -> ")
        out.append(
            f"field {field}: logical type, precision or scale (as [logicalType, precision, "
            f"scale]) is {before} in {writer_label} but {after} in {reader_label}"
        )
    return out


def _sentence(message: str, reader: str, writer: str) -> str:
    if message.isidentifier():
        return f"{reader} needs it and gives no default, but {writer} does not have it"
    if message.startswith("reader type: "):
        mine, _, theirs = message.removeprefix("reader type: ").partition(
            " not compatible with writer type: "
        )
        return (
            f"{writer} has type {theirs.lower()}, which {reader} (type {mine.lower()}) cannot read"
        )
    if message.startswith("reader union lacking writer type"):
        kind = message.removeprefix("reader union lacking writer type").strip(": ").lower()
        return f"{writer} may hold {kind}, which is no branch of {reader}'s union"
    if message.startswith("{"):
        return f"{writer} may hold enum symbols {message} that {reader} lacks (and has no default)"
    if message.startswith("expected: "):
        return f"the type's name differs: {reader} {message}"
    return message

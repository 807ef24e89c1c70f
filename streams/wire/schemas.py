"""The Avro schemas shipped in ``schemas/``: loading, fingerprints, evolution checks.

Contract:

* Every ``schemas/<fullname>.avsc`` holds one named type (record or enum) of namespace
  ``io.creditstream``; other files refer to it by full name. :func:`load_schemas` reads a
  folder once (cached per folder) and gives, per full name, a *self-contained* schema
  (named references inlined on first use), the fastavro-parsed form used in the hot path,
  its Parsing Canonical Form and its CRC-64-AVRO fingerprint (8 bytes, little-endian as
  on the wire in Avro single-object encoding).
* ``schemas/released/<version>/`` holds the schemas of released versions. The newest
  released version is what :func:`check_backward_compatibility` compares against: every
  current schema, as reader, must read data written with its released version.
* Where ``schemas/`` is found (:data:`SCHEMA_DIR`, the one place streams code reads it
  from): an installed wheel carries it as package data ``streams/_schemas`` (mapped from
  the checkout's top-level ``schemas/`` in ``pyproject.toml``: the files exist once, in
  the checkout); a checkout (editable install, source tree) reads ``schemas/`` itself.
  A folder without any ``*.avsc`` is a :class:`~streams.errors.ConfigError`, never an
  empty set that would reject every record.

No Kafka import here: this module is used by the codec, tests and CI alike.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from fastavro import parse_schema
from fastavro.schema import fingerprint as _fastavro_fingerprint
from fastavro.schema import to_parsing_canonical_form

from streams.errors import ConfigError

NAMESPACE = "io.creditstream"
#: Package data name of ``schemas/`` inside an installed ``streams`` (see pyproject.toml).
PACKAGED_NAME = "_schemas"


def locate_schema_dir(package: Path | None = None) -> Path:
    """The folder holding the shipped schemas, for the ``streams`` package at ``package``.

    ``<package>/_schemas`` in an installed wheel, else ``schemas/`` beside the package in
    a checkout (setuptools' editable finder cannot map a data-only folder, so an editable
    install reads the checkout's copy, which is the same and only one). When neither
    exists, the wheel location is returned so that loading names where they were expected.
    """
    if package is None:
        package = Path(str(resources.files("streams")))
    installed = package / PACKAGED_NAME
    if installed.is_dir():
        return installed
    checkout = package.parent / "schemas"
    return checkout if checkout.is_dir() else installed


SCHEMA_DIR = locate_schema_dir()
RELEASED_DIR = SCHEMA_DIR / "released"

# Full names of the wire-level records, so callers never spell them by hand.
LOAN_EVENT = f"{NAMESPACE}.LoanEvent"
ACTIVITY_EVENT = f"{NAMESPACE}.ActivityEvent"
EXCHANGE_EVENT = f"{NAMESPACE}.ExchangeEvent"
BORROWER_PROFILE = f"{NAMESPACE}.BorrowerProfile"
SUBSCRIPTION = f"{NAMESPACE}.Subscription"
FEED_RECORD = f"{NAMESPACE}.FeedRecord"
AUDIT_RECORD = f"{NAMESPACE}.AuditRecord"
PROFILE_UPDATE = f"{NAMESPACE}.ProfileUpdate"

_PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
_NAMED = frozenset({"record", "error", "enum", "fixed"})


def _full_name(name: str, namespace: str | None) -> str:
    return name if "." in name or not namespace else f"{namespace}.{name}"


@dataclass(frozen=True, slots=True)
class SchemaInfo:
    """One named type: its self-contained JSON, parsed form and fingerprint."""

    name: str
    resolved: dict[str, Any]
    parsed: Any  # fastavro's parsed schema; opaque to callers, passed back to fastavro
    canonical_form: str
    fingerprint: bytes  # 8 bytes, CRC-64-AVRO, little-endian (wire order)

    @property
    def fingerprint_int(self) -> int:
        """The fingerprint as the unsigned 64-bit integer the Avro spec defines."""
        return int.from_bytes(self.fingerprint, "little")


class SchemaSet:
    """All named types of one folder, by full name. Build with :func:`load_schemas`.

    Raises :class:`~streams.errors.ConfigError` when the folder holds no ``*.avsc``.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._named: dict[str, dict[str, Any]] = {}
        self.top_level: tuple[str, ...] = ()
        files = sorted(directory.glob("*.avsc"))
        if not files:
            shipped = directory == SCHEMA_DIR
            why = ": this install lacks its schemas, reinstall creditstream" if shipped else ""
            raise ConfigError(f"no Avro schemas (*.avsc) in {directory}{why}")
        tops = []
        for path in files:
            raw = json.loads(path.read_text(encoding="utf-8"))
            ns = raw.get("namespace")
            tops.append(_full_name(raw["name"], ns))
            self._collect(raw, ns)
        self.top_level = tuple(tops)
        self._infos: dict[str, SchemaInfo] = {}

    def _collect(self, node: Any, namespace: str | None) -> None:
        """Index every named definition, including ones nested inline in a file."""
        if isinstance(node, list):
            for branch in node:
                self._collect(branch, namespace)
        elif isinstance(node, dict):
            kind = node.get("type")
            if kind in _NAMED:
                namespace = node.get("namespace", namespace)
                full = _full_name(node["name"], namespace)
                namespace = full.rpartition(".")[0] or None
                self._named[full] = {**node, "__ns": namespace}
                for field in node.get("fields", ()):
                    self._collect(field["type"], namespace)
            elif kind == "array":
                self._collect(node["items"], namespace)
            elif kind == "map":
                self._collect(node["values"], namespace)
            elif isinstance(kind, dict | list):
                self._collect(kind, namespace)

    def names(self) -> list[str]:
        """Full names of every named type in the folder (records and enums), sorted."""
        return sorted(self._named)

    def __contains__(self, name: object) -> bool:
        return name in self._named

    def raw(self, name: str) -> dict[str, Any]:
        """The definition as written (nested references not inlined)."""
        return {k: v for k, v in self._named[name].items() if k != "__ns"}

    def info(self, name: str) -> SchemaInfo:
        """Self-contained schema, parsed form and fingerprint; computed once per name."""
        found = self._infos.get(name)
        if found is None:
            if name not in self._named:
                raise KeyError(f"unknown schema {name!r} in {self.directory}")
            resolved = self._inline(name, set())
            parsed = parse_schema(resolved)
            canonical = to_parsing_canonical_form(parsed)
            fp = bytes.fromhex(_fastavro_fingerprint(canonical, "CRC-64-AVRO"))
            found = SchemaInfo(name, resolved, parsed, canonical, fp)
            self._infos[name] = found
        return found

    def _inline(self, full: str, emitted: set[str]) -> dict[str, Any]:
        """Definition of ``full`` with references resolved (first use defines)."""
        node = self._named[full]
        emitted.add(full)
        ns = node["__ns"]
        out = {k: v for k, v in node.items() if k not in ("__ns", "namespace", "name")}
        out = {"name": full, **out}  # full names everywhere: no namespace ambiguity
        if "fields" in node:
            out["fields"] = [
                {**fld, "type": self._resolve(fld["type"], ns, emitted)} for fld in node["fields"]
            ]
        return out

    def _resolve(self, node: Any, namespace: str | None, emitted: set[str]) -> Any:
        if isinstance(node, str):
            if node in _PRIMITIVES:
                return node
            full = _full_name(node, namespace)
            if full not in self._named:
                full = node  # maybe already a full name in another namespace
            if full not in self._named:
                raise KeyError(f"schema reference {node!r} is not defined in {self.directory}")
            return full if full in emitted else self._inline(full, emitted)
        if isinstance(node, list):
            return [self._resolve(branch, namespace, emitted) for branch in node]
        kind = node.get("type")
        if kind in _NAMED:
            full = _full_name(node["name"], node.get("namespace", namespace))
            return full if full in emitted else self._inline(full, emitted)
        if kind == "array":
            return {**node, "items": self._resolve(node["items"], namespace, emitted)}
        if kind == "map":
            return {**node, "values": self._resolve(node["values"], namespace, emitted)}
        if isinstance(kind, dict | list):
            return self._resolve(kind, namespace, emitted)
        return node  # primitive with logicalType or other attributes


@functools.cache
def load_schemas(directory: Path = SCHEMA_DIR) -> SchemaSet:
    """The schemas of ``directory``, loaded and indexed once per process."""
    return SchemaSet(directory)


def schema_names(directory: Path = SCHEMA_DIR) -> list[str]:
    """Full names of every named type shipped in ``directory``."""
    return load_schemas(directory).names()


def fingerprint(name: str, directory: Path = SCHEMA_DIR) -> bytes:
    """CRC-64-AVRO fingerprint (8 bytes, little-endian) of the named schema's canonical form."""
    return load_schemas(directory).info(name).fingerprint


def released_versions(root: Path = RELEASED_DIR) -> list[str]:
    """Released versions found under ``root``, oldest first (numeric dotted order)."""
    if not root.is_dir():
        return []

    def key(version: str) -> tuple[int, ...]:
        return tuple(int(p) if p.isdigit() else -1 for p in version.lstrip("v").split("."))

    return sorted((p.name for p in root.iterdir() if p.is_dir()), key=key)


def latest_released(root: Path = RELEASED_DIR) -> SchemaSet | None:
    """Schemas of the newest released version, or None before the first release."""
    versions = released_versions(root)
    return load_schemas(root / versions[-1]) if versions else None


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
            or raw.get("type") not in _NAMED
            or not isinstance(raw.get("name"), str)
        ):
            raise ConfigError(
                f'{path}: not an Avro named type (a JSON object with "type": "record", '
                '"enum" or "fixed" and a "name")'
            )
        ns = raw.get("namespace")
        name = _full_name(raw["name"], ns if isinstance(ns, str) else None)
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

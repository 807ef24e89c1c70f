"""The Avro schemas shipped in ``schemas/``: loading, fingerprints, released versions.

Contract:

* Every ``schemas/<fullname>.avsc`` holds one named type (record or enum) of namespace
  ``io.creditstream``; other files refer to it by full name. :func:`load_schemas` reads a
  folder once (cached per folder) and gives, per full name, a *self-contained* schema
  (named references inlined on first use), the fastavro-parsed form used in the hot path,
  its Parsing Canonical Form and its CRC-64-AVRO fingerprint (8 bytes, little-endian as
  on the wire in Avro single-object encoding).
* ``schemas/released/<version>/`` holds the schemas of released versions
  (:func:`released_versions`, :func:`latest_released`); ``streams.wire.evolution``
  checks a schema change against the newest of them.
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
REPORT_ISSUED = f"{NAMESPACE}.ReportIssued"
BORROWER_REQUEST = f"{NAMESPACE}.BorrowerRequest"
DISPUTE = f"{NAMESPACE}.Dispute"
RIGHT_EXERCISED = f"{NAMESPACE}.RightExercised"

_PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
NAMED_TYPES = frozenset({"record", "error", "enum", "fixed"})


def full_name(name: str, namespace: str | None) -> str:
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
            tops.append(full_name(raw["name"], ns))
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
            if kind in NAMED_TYPES:
                namespace = node.get("namespace", namespace)
                full = full_name(node["name"], namespace)
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
            full = full_name(node, namespace)
            if full not in self._named:
                full = node  # maybe already a full name in another namespace
            if full not in self._named:
                raise KeyError(f"schema reference {node!r} is not defined in {self.directory}")
            return full if full in emitted else self._inline(full, emitted)
        if isinstance(node, list):
            return [self._resolve(branch, namespace, emitted) for branch in node]
        kind = node.get("type")
        if kind in NAMED_TYPES:
            full = full_name(node["name"], node.get("namespace", namespace))
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


def shape(schema: Any) -> str:
    """The Avro types of a resolved schema in binary-encoding order, with their logical
    types (names, docs and defaults left out)."""
    if isinstance(schema, list):
        return "[" + " ".join(shape(s) for s in schema) + "]"
    if isinstance(schema, dict):
        typ = schema["type"]
        if typ == "record":
            return "{" + " ".join(shape(f["type"]) for f in schema["fields"]) + "}"
        if typ in ("enum", "fixed"):
            return str(typ)
        logical = schema.get("logicalType")
        if logical == "decimal":
            logical = f"decimal/{schema.get('scale', 0)}"
        return shape(typ) + (f":{logical}" if logical else "")
    return str(schema)

"""Human JSON <-> fastavro datum, for examples, JSON Lines input and printing.

Convention (also in ``schemas/examples/README.md``):

* decimals are JSON *strings* (``"125.50"``), never JSON numbers, so no float ever
  touches an amount; at most ``scale`` fraction digits, at most ``precision`` digits;
* ``timestamp-millis``/``-micros`` are ISO-8601 strings with an explicit offset
  (``"2025-03-01T10:15:00Z"``), naive times are refused as ambiguous;
* ``date`` is ``"YYYY-MM-DD"``; enums are their symbol; optional fields may be omitted
  or ``null``; unknown fields are refused (they are almost always typos).

:func:`json_to_datum` raises :class:`JsonDatumError` with ``reason`` MISSING_FIELD or
INVALID_FIELD and the field path, never the value. Its output always encodes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from streams.errors import CreditstreamError
from streams.wire.rejects import Reason
from streams.wire.schemas import NAMESPACE, SCHEMA_DIR, SchemaSet, load_schemas

EXAMPLES_DIR = SCHEMA_DIR / "examples"
_INT_RANGE = {"int": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1)}


class JsonDatumError(CreditstreamError):
    """JSON does not match the schema; ``field`` is a path like ``LoanEvent.amount``."""

    def __init__(self, reason: Reason, field: str, what: str) -> None:
        super().__init__(f"{reason}: {field} {what}")
        self.reason = reason
        self.field = field
        self.message = f"{field} {what}"


def _bad(path: str, what: str) -> JsonDatumError:
    return JsonDatumError(Reason.INVALID_FIELD, path, what)


class _Converter:
    def __init__(self, schemas: SchemaSet) -> None:
        self.schemas = schemas

    def named(self, name: str) -> dict[str, Any]:
        return self.schemas.info(name).resolved

    def to_datum(self, schema: Any, value: Any, path: str) -> Any:
        if isinstance(schema, list):
            return self.union(schema, value, path)
        if isinstance(schema, str):
            if schema in self.schemas:
                return self.to_datum(self.named(schema), value, path)
            schema = {"type": schema}
        kind = schema["type"]
        if isinstance(kind, dict | list) or (isinstance(kind, str) and kind in self.schemas):
            return self.to_datum(kind, value, path)
        logical = schema.get("logicalType")
        if value is None:
            if kind == "null":
                return None
            raise JsonDatumError(Reason.MISSING_FIELD, path, "is missing or null")
        if logical == "decimal":
            return self.decimal(schema, value, path)
        if logical in ("timestamp-millis", "timestamp-micros"):
            if not isinstance(value, str):
                raise _bad(path, "must be an ISO-8601 string with offset")
            try:
                ts = datetime.fromisoformat(value)
            except ValueError:
                raise _bad(path, "is not an ISO-8601 timestamp") from None
            if ts.tzinfo is None:
                raise _bad(path, "needs an explicit UTC offset such as Z")
            return ts.astimezone(UTC)
        if logical == "date":
            try:
                return date.fromisoformat(value)
            except (TypeError, ValueError):
                raise _bad(path, "is not a YYYY-MM-DD date") from None
        if kind == "record":
            return self.record(schema, value, path)
        if kind == "enum":
            if value not in schema["symbols"]:
                raise _bad(path, f"is not one of {', '.join(schema['symbols'])}")
            return value
        if kind == "array":
            if not isinstance(value, list):
                raise _bad(path, "must be a list")
            return [self.to_datum(schema["items"], v, f"{path}[{i}]") for i, v in enumerate(value)]
        if kind == "map":
            if not isinstance(value, dict):
                raise _bad(path, "must be an object")
            return {k: self.to_datum(schema["values"], v, f"{path}.{k}") for k, v in value.items()}
        return self.primitive(kind, value, path)

    def primitive(self, kind: str, value: Any, path: str) -> Any:
        if kind in _INT_RANGE:
            lo, hi = _INT_RANGE[kind]
            if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
                raise _bad(path, f"must be an integer ({kind})")
            return value
        if kind in ("float", "double"):
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise _bad(path, "must be a number")
            return float(value)
        if kind == "boolean" and isinstance(value, bool):
            return value
        if kind == "string" and isinstance(value, str):
            return value
        if kind in ("bytes", "fixed") and isinstance(value, str):
            return value.encode("latin-1")  # Avro's own JSON encoding of bytes
        raise _bad(path, f"must be of type {kind}")

    def decimal(self, schema: dict[str, Any], value: Any, path: str) -> Decimal:
        if not isinstance(value, str):
            raise _bad(path, 'must be a decimal string such as "125.50"')
        try:
            number = Decimal(value)
        except InvalidOperation:
            raise _bad(path, "is not a decimal number") from None
        scale, precision = schema.get("scale", 0), schema["precision"]
        exponent = number.as_tuple().exponent
        if not number.is_finite() or not isinstance(exponent, int) or -exponent > scale:
            raise _bad(path, f"must be finite with at most {scale} decimals")
        number = number.quantize(Decimal(1).scaleb(-scale))
        if len(number.as_tuple().digits) > precision:
            raise _bad(path, f"has more than {precision} digits")
        return number

    def union(self, branches: list[Any], value: Any, path: str) -> Any:
        if value is None:
            if "null" in branches:
                return None
            raise JsonDatumError(Reason.MISSING_FIELD, path, "is missing or null")
        errors = []
        for branch in (b for b in branches if b != "null"):
            try:
                return self.to_datum(branch, value, path)
            except JsonDatumError as exc:
                errors.append(exc)
        raise errors[0] if errors else _bad(path, "matches no branch of the union")

    def record(self, schema: dict[str, Any], value: Any, path: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise _bad(path, "must be an object")
        fields = schema["fields"]
        unknown = set(value) - {f["name"] for f in fields}
        if unknown:
            raise _bad(path, f"has unknown fields {sorted(unknown)}")
        out = {}
        for fld in fields:
            sub = f"{path}.{fld['name']}"
            if fld["name"] in value:
                out[fld["name"]] = self.to_datum(fld["type"], value[fld["name"]], sub)
            elif "default" in fld:
                out[fld["name"]] = self.to_datum(fld["type"], fld["default"], sub)
            else:
                raise JsonDatumError(Reason.MISSING_FIELD, sub, "is missing")
        return out


def _full(name: str) -> str:
    return name if "." in name else f"{NAMESPACE}.{name}"


def json_to_datum(name: str, value: Any, schemas: SchemaSet | None = None) -> dict[str, Any]:
    """fastavro datum for the JSON object ``value`` of schema ``name`` (short or full)."""
    schemas = schemas or load_schemas()
    full = _full(name)
    result: dict[str, Any] = _Converter(schemas).to_datum(full, value, full.rpartition(".")[2])
    return result


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("latin-1")
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], str):
        return _jsonable(value[1])  # fastavro's (branch name, value) union notation
    return value


def datum_to_json(datum: Any) -> Any:
    """JSON-ready form of a decoded datum, in the convention above (inverse of the loader)."""
    return _jsonable(datum)


@dataclass(frozen=True, slots=True)
class Example:
    """One example file: the schema it is for, and whether it is meant to be valid."""

    schema_name: str
    path: Path
    valid: bool

    def load(self) -> Any:
        return json.loads(self.path.read_text(encoding="utf-8"))

    @property
    def expected_reason(self) -> str | None:
        """Invalid examples named ``<REASON>__what.json`` declare the reason they must get."""
        head = self.path.stem.partition("__")[0]
        return head if head in Reason.__members__ else None


def iter_examples(root: Path = EXAMPLES_DIR) -> Iterator[Example]:
    """Every ``<root>/<Name>/*.json`` (valid) and ``<root>/<Name>/invalid/*.json``."""
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        for path in sorted(folder.glob("*.json")):
            yield Example(_full(folder.name), path, True)
        for path in sorted((folder / "invalid").glob("*.json")):
            yield Example(_full(folder.name), path, False)

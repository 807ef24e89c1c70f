"""What every wire format shares: the interface, the errors, the Avro body.

Contract:

* :class:`Codec` is what a wire format offers: ``encode(schema_name, datum)`` and
  ``decode(data, expected)`` -> ``(full schema name, datum)``; schema names are full
  names (``io.creditstream.X``).
* :class:`EncodeError` says a datum does not match its schema, naming the field, never
  the value (:func:`encode_error` finds it); :class:`RegistryUnavailableError` says the
  Schema Registry failed: retry, never reject the record.
* An :class:`Entry` is a known writer schema (and the reader schema to resolve into).
  :func:`encode_body` writes a format's header and the Avro body; :func:`decode_body`
  reads the body after the header: every failure is a
  :class:`~streams.errors.DecodeError` (TRUNCATED or MALFORMED, trailing bytes included)
  carrying the raw bytes; :func:`wrong_schema` refuses a schema that is not expected.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from io import BytesIO
from typing import Any, Protocol

from fastavro import schemaless_reader, schemaless_writer
from fastavro.validation import ValidationError, validate

from streams.errors import CreditstreamError, DecodeError
from streams.wire.rejects import Reason
from streams.wire.schemas import SchemaSet

Datum = dict[str, Any]


class Codec(Protocol):
    """What every wire format offers; schema names are full names (``io.creditstream.X``)."""

    def encode(self, schema_name: str, datum: Mapping[str, Any]) -> bytes: ...

    def decode(self, data: bytes, expected: AbstractSet[str] | None = None) -> tuple[str, Datum]:
        """Decode; ``expected`` limits which schemas are acceptable (WRONG_SCHEMA otherwise)."""
        ...


class EncodeError(CreditstreamError):
    """A datum does not match its schema. Names the field, never the value."""

    def __init__(self, reason: Reason, message: str, field: str | None = None) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message
        self.field = field


class RegistryUnavailableError(CreditstreamError):
    """The Schema Registry failed for a reason other than an unknown id: retry, don't reject."""


class Entry:
    """A known writer schema: name, writer parsed form, reader (None = same as writer)."""

    __slots__ = ("name", "reader", "writer")

    def __init__(self, name: str, writer: Any, reader: Any) -> None:
        self.name = name
        self.writer = writer
        self.reader = reader


def encode_error(schemas: SchemaSet, name: str, datum: Mapping[str, Any]) -> EncodeError:
    """Slow path after a failed write: find which field is wrong without echoing values."""
    if name not in schemas:
        return EncodeError(Reason.UNKNOWN_SCHEMA, f"schema {name!r} is not shipped")
    try:
        validate(datum, schemas.info(name).parsed, raise_errors=True)
    except ValidationError as exc:
        first = exc.errors[0]
        reason = Reason.MISSING_FIELD if first.datum is None else Reason.INVALID_FIELD
        fields = sorted({str(e.field) for e in exc.errors})
        return EncodeError(reason, f"datum does not match {name} at {', '.join(fields)}", fields[0])
    return EncodeError(Reason.INVALID_FIELD, f"datum does not match {name} (out-of-range value)")


def encode_body(header: bytes, entry: Entry, datum: Mapping[str, Any], schemas: SchemaSet) -> bytes:
    """``header`` + the Avro body of ``datum``; :class:`EncodeError` when it does not match."""
    bio = BytesIO()
    bio.write(header)
    try:
        schemaless_writer(bio, entry.writer, datum)
    except Exception:
        raise encode_error(schemas, entry.name, datum) from None
    return bio.getvalue()


def decode_body(data: bytes, offset: int, entry: Entry) -> Datum:
    """The Avro body of ``data`` from ``offset`` on, which must end exactly at its end."""
    bio = BytesIO(data)
    bio.seek(offset)
    try:
        datum: Datum = schemaless_reader(bio, entry.writer, entry.reader)  # type: ignore[assignment]
    except Exception as exc:
        # fastavro signals running out of bytes as EOFError or IndexError depending on
        # the type being read; a failure with every byte consumed is a truncation.
        if isinstance(exc, EOFError) or bio.tell() >= len(data):
            raise DecodeError(Reason.TRUNCATED, f"{entry.name} body ends early", data) from None
        msg = f"{entry.name} body is not valid Avro ({type(exc).__name__})"
        raise DecodeError(Reason.MALFORMED, msg, data) from None
    if bio.tell() != len(data):
        msg = f"{len(data) - bio.tell()} trailing bytes after the {entry.name} body"
        raise DecodeError(Reason.MALFORMED, msg, data)
    return datum


def wrong_schema(name: str, expected: AbstractSet[str], data: bytes) -> DecodeError:
    """The refusal of a record written with ``name`` where only ``expected`` may stand."""
    return DecodeError(
        Reason.WRONG_SCHEMA,
        f"{name} is not allowed here (expected {', '.join(sorted(expected))})",
        data,
    )

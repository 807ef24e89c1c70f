"""Avro codec: one interface, two wire formats, fastavro in the hot path.

* Single-object encoding (Avro spec): ``C3 01`` + 8-byte little-endian CRC-64-AVRO
  fingerprint of the writer schema's canonical form + body. Fingerprints resolve against
  the schemas shipped in ``schemas/`` and, so old data stays readable, those of the
  released versions (read with schema resolution into the current schema).
* Confluent framing: ``00`` + 4-byte big-endian schema id + body, ids from a Schema
  Registry (subject = record full name, i.e. RecordNameStrategy).

``decode`` returns ``(full schema name, datum)`` and raises only
:class:`streams.errors.DecodeError` for bad data, with a :class:`Reason` code and the raw
bytes; callers add ``topic``/``partition``/``offset`` attributes when they catch it. A
registry that cannot be reached raises :class:`RegistryUnavailableError` instead: that is
not the record's fault and must not send it to a rejected topic.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping
from collections.abc import Set as AbstractSet
from io import BytesIO
from typing import Any, Protocol

from fastavro import parse_schema, schemaless_reader, schemaless_writer
from fastavro.validation import ValidationError, validate

from streams.errors import CreditstreamError, DecodeError
from streams.wire.rejects import Reason
from streams.wire.schemas import NAMESPACE, SchemaSet, latest_released, load_schemas

SINGLE_OBJECT_MAGIC = b"\xc3\x01"
CONFLUENT_MAGIC = b"\x00"
_SO_HEADER = 10  # magic (2) + fingerprint (8)
_CF_HEADER = 5  # magic (1) + schema id (4)

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


class _Entry:
    """A known writer schema: name, writer parsed form, reader (None = same as writer)."""

    __slots__ = ("name", "reader", "writer")

    def __init__(self, name: str, writer: Any, reader: Any) -> None:
        self.name = name
        self.writer = writer
        self.reader = reader


def _encode_error(schemas: SchemaSet, name: str, datum: Mapping[str, Any]) -> EncodeError:
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


def _decode_body(data: bytes, offset: int, entry: _Entry) -> Datum:
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


def _wrong(name: str, expected: AbstractSet[str], data: bytes) -> DecodeError:
    return DecodeError(
        Reason.WRONG_SCHEMA,
        f"{name} is not allowed here (expected {', '.join(sorted(expected))})",
        data,
    )


class SingleObjectCodec:
    """Avro single-object encoding resolved against shipped (and released) schemas."""

    def __init__(
        self,
        schemas: SchemaSet | None = None,
        released: tuple[SchemaSet, ...] | None = None,
    ) -> None:
        self.schemas = schemas or load_schemas()
        if released is None:
            latest = latest_released()
            released = (latest,) if latest is not None else ()
        self._by_header: dict[bytes, _Entry] = {}
        self._header_for: dict[str, bytes] = {}
        for old in released:  # older first; current schemas overwrite equal fingerprints
            for name in old.names():
                if name in self.schemas:
                    info = old.info(name)
                    reader = self.schemas.info(name).parsed
                    self._by_header[SINGLE_OBJECT_MAGIC + info.fingerprint] = _Entry(
                        name, info.parsed, reader
                    )
        for name in self.schemas.names():
            info = self.schemas.info(name)
            header = SINGLE_OBJECT_MAGIC + info.fingerprint
            self._by_header[header] = _Entry(name, info.parsed, None)
            self._header_for[name] = header
            self._header_for[name.rpartition(".")[2]] = header  # short name also accepted

    def encode(self, schema_name: str, datum: Mapping[str, Any]) -> bytes:
        """Header + fastavro body; raises :class:`EncodeError` for a non-matching datum."""
        header = self._header_for.get(schema_name)
        if header is None:
            raise EncodeError(Reason.UNKNOWN_SCHEMA, f"schema {schema_name!r} is not shipped")
        entry = self._by_header[header]
        bio = BytesIO()
        bio.write(header)
        try:
            schemaless_writer(bio, entry.writer, datum)
        except Exception:
            raise _encode_error(self.schemas, entry.name, datum) from None
        return bio.getvalue()

    def decode(self, data: bytes, expected: AbstractSet[str] | None = None) -> tuple[str, Datum]:
        """Decode a single-object-encoded record (see module docstring for errors)."""
        # One dict lookup on the 10-byte header checks magic and fingerprint at once.
        entry = self._by_header.get(data[:_SO_HEADER])
        if entry is None:
            raise self._diagnose(data)
        if expected is not None and entry.name not in expected:
            raise _wrong(entry.name, expected, data)
        return entry.name, _decode_body(data, _SO_HEADER, entry)

    @staticmethod
    def _diagnose(data: bytes) -> DecodeError:
        if not data.startswith(SINGLE_OBJECT_MAGIC):
            return DecodeError(Reason.NOT_AVRO, "no Avro single-object header (C3 01)", data)
        if len(data) < _SO_HEADER:
            return DecodeError(Reason.TRUNCATED, "single-object header is cut short", data)
        fp = data[2:_SO_HEADER].hex()
        return DecodeError(Reason.UNKNOWN_SCHEMA, f"fingerprint {fp} is not a known schema", data)


class RegistryClient(Protocol):
    """The part of ``confluent_kafka.schema_registry.SchemaRegistryClient`` used here."""

    def register_schema(self, subject_name: str, schema: Any) -> int: ...

    def lookup_schema(self, subject_name: str, schema: Any) -> Any: ...  # has .schema_id

    def get_schema(self, schema_id: int) -> Any: ...  # has .schema_str


class ConfluentCodec:
    """Confluent wire format (magic 0 + schema id) through a Schema Registry client."""

    def __init__(
        self,
        client: RegistryClient,
        schemas: SchemaSet | None = None,
        *,
        auto_register: bool = True,
        schema_factory: Callable[[str], Any],
        subject_for: Callable[[str], str] = lambda name: name,
    ) -> None:
        self.client = client
        self.schemas = schemas or load_schemas()
        self.auto_register = auto_register
        self._schema_factory = schema_factory
        self._subject_for = subject_for
        self._id_for: dict[str, bytes] = {}  # schema name -> 5-byte header
        self._by_id: dict[bytes, _Entry] = {}  # 5-byte header -> entry

    def _header(self, schema_name: str) -> bytes:
        header = self._id_for.get(schema_name)
        if header is None:
            if schema_name not in self.schemas:
                raise EncodeError(Reason.UNKNOWN_SCHEMA, f"schema {schema_name!r} is not shipped")
            info = self.schemas.info(schema_name)
            schema = self._schema_factory(json.dumps(info.resolved))
            subject = self._subject_for(schema_name)
            try:
                if self.auto_register:
                    schema_id = self.client.register_schema(subject, schema)
                else:
                    schema_id = self.client.lookup_schema(subject, schema).schema_id
            except Exception as exc:
                raise RegistryUnavailableError(f"registry refused {subject}: {exc}") from exc
            header = CONFLUENT_MAGIC + int(schema_id).to_bytes(4, "big")
            self._id_for[schema_name] = header
            self._by_id[header] = _Entry(schema_name, info.parsed, None)
        return header

    def encode(self, schema_name: str, datum: Mapping[str, Any]) -> bytes:
        """Registry-framed record; the id is looked up/registered once per schema."""
        name = schema_name if "." in schema_name else f"{NAMESPACE}.{schema_name}"
        header = self._header(name)
        bio = BytesIO()
        bio.write(header)
        try:
            schemaless_writer(bio, self._by_id[header].writer, datum)
        except Exception:
            raise _encode_error(self.schemas, name, datum) from None
        return bio.getvalue()

    def decode(self, data: bytes, expected: AbstractSet[str] | None = None) -> tuple[str, Datum]:
        """Decode a Confluent-framed record; the writer schema comes from the registry."""
        entry = self._by_id.get(data[:_CF_HEADER])
        if entry is None:
            entry = self._fetch(data)
        if expected is not None and entry.name not in expected:
            raise _wrong(entry.name, expected, data)
        return entry.name, _decode_body(data, _CF_HEADER, entry)

    def _fetch(self, data: bytes) -> _Entry:
        if not data.startswith(CONFLUENT_MAGIC):
            raise DecodeError(Reason.NOT_AVRO, "no Confluent header (magic byte 0)", data)
        if len(data) < _CF_HEADER:
            raise DecodeError(Reason.TRUNCATED, "Confluent header is cut short", data)
        schema_id = int.from_bytes(data[1:_CF_HEADER], "big")
        try:
            found = self.client.get_schema(schema_id)
        except Exception as exc:
            if getattr(exc, "http_status_code", None) == 404:
                raise DecodeError(
                    Reason.UNKNOWN_SCHEMA, f"registry has no id {schema_id}", data
                ) from exc
            raise RegistryUnavailableError(f"registry lookup of id {schema_id} failed") from exc
        try:
            raw = json.loads(found.schema_str)
            full = raw["name"] if "." in raw["name"] else f"{raw['namespace']}.{raw['name']}"
            writer = parse_schema(raw)
        except Exception:
            raise DecodeError(
                Reason.UNKNOWN_SCHEMA, f"id {schema_id} is not an Avro record", data
            ) from None
        if full not in self.schemas:
            raise DecodeError(Reason.UNKNOWN_SCHEMA, f"id {schema_id} is {full}, not shipped", data)
        mine = self.schemas.info(full)
        same = mine.canonical_form == _canonical(writer)  # then skip schema resolution
        entry = _Entry(full, mine.parsed if same else writer, None if same else mine.parsed)
        self._by_id[data[:_CF_HEADER]] = entry
        return entry


def _canonical(parsed: Any) -> str:
    from fastavro.schema import to_parsing_canonical_form

    return str(to_parsing_canonical_form(parsed))


class SniffingCodec:
    """Encodes with the configured format; decodes either, by the first byte."""

    def __init__(self, single: SingleObjectCodec, confluent: ConfluentCodec | None = None) -> None:
        self.single = single
        self.confluent = confluent
        self._encoder: Codec = confluent if confluent is not None else single

    def encode(self, schema_name: str, datum: Mapping[str, Any]) -> bytes:
        return self._encoder.encode(schema_name, datum)

    def decode(self, data: bytes, expected: AbstractSet[str] | None = None) -> tuple[str, Datum]:
        if data[:1] == b"\xc3":
            return self.single.decode(data, expected)
        if data[:1] == CONFLUENT_MAGIC:
            if self.confluent is None:
                raise DecodeError(
                    Reason.UNKNOWN_SCHEMA,
                    "Confluent-framed record but no Schema Registry configured",
                    data,
                )
            return self.confluent.decode(data, expected)
        raise DecodeError(Reason.NOT_AVRO, "neither single-object nor Confluent framing", data)

    decode_any = decode


def local_codec(schemas: SchemaSet | None = None) -> SniffingCodec:
    """Single-object encoding against the shipped schemas; reads Confluent framing only
    through a registry (``streams.runtime.registry.codec_for``)."""
    return SniffingCodec(SingleObjectCodec(schemas))


@functools.cache
def _default_codec() -> SniffingCodec:
    return local_codec()


def decode_any(
    data: bytes,
    expected: AbstractSet[str] | None = None,
    codec: SniffingCodec | None = None,
) -> tuple[str, Datum]:
    """Decode either wire format (registry-framed only if ``codec`` has a registry)."""
    return (codec or _default_codec()).decode(data, expected)

"""Avro single-object encoding, resolved against the shipped (and released) schemas.

Contract: a record is ``C3 01`` (:data:`SINGLE_OBJECT_MAGIC`) + the 8-byte little-endian
CRC-64-AVRO fingerprint of the writer schema's canonical form + the Avro body.
:class:`SingleObjectCodec` knows the current schemas and, so old data stays readable,
those of the released versions: a record written with a released schema is read with
schema resolution into the current one. An unknown header is NOT_AVRO, TRUNCATED or
UNKNOWN_SCHEMA; encoding accepts a full or a short schema name.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from typing import Any

from streams.errors import DecodeError
from streams.wire.codec.base import (
    Datum,
    EncodeError,
    Entry,
    decode_body,
    encode_body,
    wrong_schema,
)
from streams.wire.rejects import Reason
from streams.wire.schemas import SchemaSet, latest_released, load_schemas

SINGLE_OBJECT_MAGIC = b"\xc3\x01"
_SO_HEADER = 10  # magic (2) + fingerprint (8)


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
        self._by_header: dict[bytes, Entry] = {}
        self._header_for: dict[str, bytes] = {}
        for old in released:  # older first; current schemas overwrite equal fingerprints
            for name in old.names():
                if name in self.schemas:
                    info = old.info(name)
                    reader = self.schemas.info(name).parsed
                    self._by_header[SINGLE_OBJECT_MAGIC + info.fingerprint] = Entry(
                        name, info.parsed, reader
                    )
        for name in self.schemas.names():
            info = self.schemas.info(name)
            header = SINGLE_OBJECT_MAGIC + info.fingerprint
            self._by_header[header] = Entry(name, info.parsed, None)
            self._header_for[name] = header
            self._header_for[name.rpartition(".")[2]] = header  # short name also accepted

    def encode(self, schema_name: str, datum: Mapping[str, Any]) -> bytes:
        """Header + fastavro body; raises :class:`EncodeError` for a non-matching datum."""
        header = self._header_for.get(schema_name)
        if header is None:
            raise EncodeError(Reason.UNKNOWN_SCHEMA, f"schema {schema_name!r} is not shipped")
        return encode_body(header, self._by_header[header], datum, self.schemas)

    def decode(self, data: bytes, expected: AbstractSet[str] | None = None) -> tuple[str, Datum]:
        """Decode a single-object-encoded record (see module docstring for errors)."""
        # One dict lookup on the 10-byte header checks magic and fingerprint at once.
        entry = self._by_header.get(data[:_SO_HEADER])
        if entry is None:
            raise self._diagnose(data)
        if expected is not None and entry.name not in expected:
            raise wrong_schema(entry.name, expected, data)
        return entry.name, decode_body(data, _SO_HEADER, entry)

    @staticmethod
    def _diagnose(data: bytes) -> DecodeError:
        if not data.startswith(SINGLE_OBJECT_MAGIC):
            return DecodeError(Reason.NOT_AVRO, "no Avro single-object header (C3 01)", data)
        if len(data) < _SO_HEADER:
            return DecodeError(Reason.TRUNCATED, "single-object header is cut short", data)
        fp = data[2:_SO_HEADER].hex()
        return DecodeError(Reason.UNKNOWN_SCHEMA, f"fingerprint {fp} is not a known schema", data)

"""Confluent framing through a Schema Registry client.

Contract: a record is ``00`` (:data:`CONFLUENT_MAGIC`) + the 4-byte big-endian schema id
+ the Avro body. :class:`ConfluentCodec` registers (or, without ``auto_register``, looks
up) each shipped schema under its subject once, then caches the id; decoding fetches an
unknown id's writer schema from the registry once and reads the body into the shipped
schema of that name. An id the registry does not have, or one naming a schema not
shipped, is UNKNOWN_SCHEMA; a schema the registry refuses to register (HTTP 409 or
422: incompatible, invalid) is a ``ConfigError`` (a deployment's mismatch, which no
retry mends: the worker stops with one line at start, when its encoders register
what it writes); any other registry failure raises
:class:`~streams.wire.codec.base.RegistryUnavailableError`. The client is passed in
(:class:`RegistryClient`): no Kafka import here.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from collections.abc import Set as AbstractSet
from typing import Any, Protocol

from fastavro import parse_schema

from streams.errors import ConfigError, DecodeError
from streams.wire.codec.base import (
    Datum,
    EncodeError,
    Entry,
    RegistryUnavailableError,
    decode_body,
    encode_body,
    wrong_schema,
)
from streams.wire.rejects import Reason
from streams.wire.schemas import NAMESPACE, SchemaSet, load_schemas

CONFLUENT_MAGIC = b"\x00"
#: Registry answers that refuse a schema for good: incompatible (409), invalid (422).
REFUSED = frozenset({409, 422})
_CF_HEADER = 5  # magic (1) + schema id (4)


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
        self._by_id: dict[bytes, Entry] = {}  # 5-byte header -> entry

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
                if getattr(exc, "http_status_code", None) in REFUSED:  # no retry mends it
                    raise ConfigError(
                        f"the schema registry refuses {subject}: {exc} (this release's "
                        "schema does not fit what is registered under that subject at the "
                        "registry's compatibility level; see schemas/README.md, Evolution)"
                    ) from exc
                raise RegistryUnavailableError(f"registry refused {subject}: {exc}") from exc
            header = CONFLUENT_MAGIC + int(schema_id).to_bytes(4, "big")
            self._id_for[schema_name] = header
            self._by_id[header] = Entry(schema_name, info.parsed, None)
        return header

    def encode(self, schema_name: str, datum: Mapping[str, Any]) -> bytes:
        """Registry-framed record; the id is looked up/registered once per schema."""
        name = schema_name if "." in schema_name else f"{NAMESPACE}.{schema_name}"
        header = self._header(name)
        return encode_body(header, self._by_id[header], datum, self.schemas)

    def decode(self, data: bytes, expected: AbstractSet[str] | None = None) -> tuple[str, Datum]:
        """Decode a Confluent-framed record; the writer schema comes from the registry."""
        entry = self._by_id.get(data[:_CF_HEADER])
        if entry is None:
            entry = self._fetch(data)
        if expected is not None and entry.name not in expected:
            raise wrong_schema(entry.name, expected, data)
        return entry.name, decode_body(data, _CF_HEADER, entry)

    def _fetch(self, data: bytes) -> Entry:
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
        entry = Entry(full, mine.parsed if same else writer, None if same else mine.parsed)
        self._by_id[data[:_CF_HEADER]] = entry
        return entry


def _canonical(parsed: Any) -> str:
    from fastavro.schema import to_parsing_canonical_form

    return str(to_parsing_canonical_form(parsed))

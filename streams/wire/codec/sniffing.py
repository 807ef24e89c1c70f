"""One codec for both wire formats: encode with the configured one, decode either.

Contract: :class:`SniffingCodec` encodes with the Confluent codec when it has one, else
with single-object encoding; it decodes by the first byte (``C3`` single-object, ``00``
Confluent, anything else NOT_AVRO). A Confluent-framed record without a registry
configured is UNKNOWN_SCHEMA. :func:`local_codec` is the registry-less codec over the
shipped schemas; :func:`decode_any` decodes with a given codec or a shared local one.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from typing import Any

from streams.errors import DecodeError
from streams.wire.codec.base import Codec, Datum
from streams.wire.codec.confluent import CONFLUENT_MAGIC, ConfluentCodec
from streams.wire.codec.single import SingleObjectCodec
from streams.wire.rejects import Reason
from streams.wire.schemas import SchemaSet


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

"""The codec of a deployment: a Confluent Schema Registry client when one is configured.

``streams.wire.codec`` holds the wire formats and never imports a Kafka client; the
registry client (``confluent_kafka.schema_registry``, an optional extra) is made here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from streams.errors import ConfigError
from streams.wire.codec import ConfluentCodec, RegistryClient, SingleObjectCodec, SniffingCodec
from streams.wire.schemas import SchemaSet


def confluent_schema(schema_str: str) -> Any:
    """confluent-kafka's ``Schema(str, "AVRO")``, as its ``register_schema`` wants."""
    from confluent_kafka.schema_registry import Schema  # optional extra; import on use

    return Schema(schema_str, "AVRO")


def codec_for(
    registry_url: str | None,
    *,
    client: RegistryClient | None = None,
    registry_config: Mapping[str, Any] | None = None,
    schemas: SchemaSet | None = None,
    schema_factory: Callable[[str], Any] = confluent_schema,
) -> SniffingCodec:
    """The codec for a deployment: Confluent framing when a registry is configured
    (``registry_url`` or an explicit ``client``), single-object encoding otherwise;
    decoding accepts both either way. ``schema_factory`` wraps a schema string for the
    client's ``register_schema`` (default: :func:`confluent_schema`)."""
    single = SingleObjectCodec(schemas)
    if client is None and registry_url:
        try:
            from confluent_kafka.schema_registry import SchemaRegistryClient
        except ImportError as exc:  # the extra pulls certifi, httpx2, authlib, cachetools
            raise ConfigError(
                f"a Schema Registry URL is set but its client cannot load ({exc}); "
                "install confluent-kafka[schemaregistry]"
            ) from exc
        client = SchemaRegistryClient({**(registry_config or {}), "url": registry_url})
    if client is None:
        return SniffingCodec(single)
    return SniffingCodec(
        single, ConfluentCodec(client, single.schemas, schema_factory=schema_factory)
    )

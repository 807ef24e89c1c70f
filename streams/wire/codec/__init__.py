"""Avro codec: one interface, two wire formats, fastavro in the hot path.

* Single-object encoding (Avro spec): ``C3 01`` + 8-byte little-endian CRC-64-AVRO
  fingerprint of the writer schema's canonical form + body. Fingerprints resolve against
  the schemas shipped in ``schemas/`` and, so old data stays readable, those of the
  released versions (read with schema resolution into the current schema).
* Confluent framing: ``00`` + 4-byte big-endian schema id + body, ids from a Schema
  Registry (subject = record full name, i.e. RecordNameStrategy).

``decode`` returns ``(full schema name, datum)`` and raises only
:class:`streams.errors.DecodeError` for bad data, with a
:class:`~streams.wire.rejects.Reason` code and the raw bytes; callers add
``topic``/``partition``/``offset`` attributes when they catch it. A registry that cannot
be reached raises :class:`RegistryUnavailableError` instead: that is not the record's
fault and must not send it to a rejected topic.

The package's public API is the names below; import them from here
(``from streams.wire.codec import SniffingCodec``). Its modules, by concept:

* ``base``: the :class:`Codec` interface, :data:`Datum`, the errors
  (:class:`EncodeError`, :class:`RegistryUnavailableError`) and the Avro body read and
  write both formats share.
* ``single``: :class:`SingleObjectCodec` and :data:`SINGLE_OBJECT_MAGIC`.
* ``confluent``: :class:`ConfluentCodec`, the :class:`RegistryClient` it needs, and
  :data:`CONFLUENT_MAGIC`.
* ``sniffing``: :class:`SniffingCodec` (encodes one format, decodes either),
  :func:`local_codec` and :func:`decode_any`.

No Kafka import: ``streams.runtime.registry`` builds the registry client.
"""

from streams.wire.codec.base import Codec, Datum, EncodeError, RegistryUnavailableError
from streams.wire.codec.confluent import CONFLUENT_MAGIC, ConfluentCodec, RegistryClient
from streams.wire.codec.single import SINGLE_OBJECT_MAGIC, SingleObjectCodec
from streams.wire.codec.sniffing import SniffingCodec, decode_any, local_codec

__all__ = [
    "CONFLUENT_MAGIC",
    "SINGLE_OBJECT_MAGIC",
    "Codec",
    "ConfluentCodec",
    "Datum",
    "EncodeError",
    "RegistryClient",
    "RegistryUnavailableError",
    "SingleObjectCodec",
    "SniffingCodec",
    "decode_any",
    "local_codec",
]

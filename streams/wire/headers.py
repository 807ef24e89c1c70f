"""Kafka headers that say what a record's value is, so an integrator's tools need no guess.

Contract: every record the exchange writes for someone outside it carries
:func:`schema_headers` of its value's schema — a bank's feed (``FeedRecord``), the audit
log (``AuditRecord``), a platform's disputes (``Dispute``) and the rights log
(``RightExercised``):

- ``content-type``: ``application/vnd.creditstream.<Name>+avro`` (the value is Avro,
  framed as single-object encoding, or Confluent's magic byte + schema id when the
  exchange runs with a Schema Registry: the first bytes tell which);
- ``avro.schema``: the full name, e.g. ``io.creditstream.FeedRecord``;
- ``avro.fingerprint``: the schema's CRC-64-AVRO fingerprint of its Parsing Canonical
  Form, 16 hex digits in wire order (the 8 bytes after ``c3 01`` of a single-object
  value; ``schemas/README.md`` lists them and which libraries compute them).

A platform's rejected record is the original bytes as sent, which may be anything, so
:func:`rejected_headers` says ``application/octet-stream`` and names the schema the
source topic expects (``cs.expected-schema``) beside the reject's own ``cs.*`` headers.

Pure and cached: the lists are built once per schema and shared (never mutate them).
"""

from __future__ import annotations

import functools

from streams.wire import schemas

CONTENT_TYPE = "content-type"
SCHEMA = "avro.schema"
FINGERPRINT = "avro.fingerprint"
EXPECTED_SCHEMA = "cs.expected-schema"
OCTET_STREAM = b"application/octet-stream"

#: A record's headers as the Kafka client takes them (its stubs want this exact type).
SchemaHeaders = list[tuple[str, str | bytes | None]]

#: The schema a platform's source topic carries, by the topic's last name part.
_SOURCE_SCHEMA = {"loans": schemas.LOAN_EVENT, "activity": schemas.ACTIVITY_EVENT}


def content_type(full_name: str) -> str:
    """``application/vnd.creditstream.<Name>+avro`` of a schema's full name."""
    return f"application/vnd.creditstream.{full_name.rsplit('.', 1)[-1]}+avro"


@functools.cache
def schema_headers(full_name: str) -> SchemaHeaders:
    """The headers of a record whose value is ``full_name`` (a shipped schema)."""
    fingerprint = schemas.fingerprint(full_name).hex()
    return [
        (CONTENT_TYPE, content_type(full_name).encode()),
        (SCHEMA, full_name.encode()),
        (FINGERPRINT, fingerprint.encode()),
    ]


@functools.cache
def rejected_headers(source_topic: str) -> SchemaHeaders:
    """What a reject of a record from ``source_topic`` adds to its ``cs.*`` headers."""
    expected = _SOURCE_SCHEMA.get(source_topic.rsplit(".", 1)[-1])
    headers: SchemaHeaders = [(CONTENT_TYPE, OCTET_STREAM)]
    if expected is not None:
        headers.append((EXPECTED_SCHEMA, expected.encode()))
    return headers

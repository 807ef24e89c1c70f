"""What integrators are told about the wire: the fingerprint table of ``schemas/README.md``
and the headers naming each record's schema (``streams.wire.headers``)."""

from __future__ import annotations

import json
import re

import avro.schema
import fastavro.schema
import pytest

from streams.wire import schemas
from streams.wire.headers import (
    CONTENT_TYPE,
    EXPECTED_SCHEMA,
    FINGERPRINT,
    SCHEMA,
    rejected_headers,
    schema_headers,
)
from streams.wire.rejects import Reason, Reject

ROW = re.compile(r"^\| `([\w.]+)` \| `([0-9a-f]{16})` \| (yes|no) \|$", re.M)


def table() -> dict[str, tuple[str, bool]]:
    text = (schemas.SCHEMA_DIR / "README.md").read_text(encoding="utf-8")
    return {name: (fp, agrees == "yes") for name, fp, agrees in ROW.findall(text)}


def test_the_readme_lists_every_schema_with_its_fingerprint() -> None:
    listed = table()
    assert sorted(listed) == schemas.schema_names()
    for name, (fp, _) in listed.items():
        assert fp == schemas.fingerprint(name).hex(), name


@pytest.mark.parametrize("name", schemas.schema_names())
def test_fastavro_from_the_avsc_file_alone_agrees(name: str) -> None:
    parsed = fastavro.schema.load_schema(str(schemas.SCHEMA_DIR / f"{name}.avsc"))
    canonical = fastavro.schema.to_parsing_canonical_form(parsed)
    assert fastavro.schema.fingerprint(canonical, "CRC-64-AVRO") == table()[name][0]


def test_the_python_avro_package_differs_where_the_readme_says() -> None:
    """If a release of ``avro`` fixes its canonical form, this fails: update the README."""
    found = {}
    for name in schemas.schema_names():
        resolved = json.dumps(schemas.load_schemas().info(name).resolved)
        fp = bytes(avro.schema.parse(resolved).fingerprint("CRC-64-AVRO")).hex()
        found[name] = fp == schemas.fingerprint(name).hex()
    assert found == {name: agrees for name, (_, agrees) in table().items()}
    assert not all(found.values())


def test_schema_headers_name_the_schema_and_its_fingerprint() -> None:
    headers = dict(schema_headers(schemas.FEED_RECORD))
    assert headers == {
        CONTENT_TYPE: b"application/vnd.creditstream.FeedRecord+avro",
        SCHEMA: b"io.creditstream.FeedRecord",
        FINGERPRINT: schemas.fingerprint(schemas.FEED_RECORD).hex().encode(),
    }
    assert schema_headers(schemas.AUDIT_RECORD) is schema_headers(schemas.AUDIT_RECORD)


@pytest.mark.parametrize(
    ("topic", "expected"),
    [
        ("ingest.acme.loans", schemas.LOAN_EVENT),
        ("ingest.acme.activity", schemas.ACTIVITY_EVENT),
        ("exchange.events", None),
    ],
)
def test_a_reject_says_its_bytes_are_as_sent_and_what_was_expected(
    topic: str, expected: str | None
) -> None:
    reject = Reject(topic, 0, 7, Reason.MALFORMED, "bad", 1, b"\x00")
    headers = dict(reject.headers())
    assert headers[CONTENT_TYPE] == b"application/octet-stream"
    assert headers.get(EXPECTED_SCHEMA) == (expected.encode() if expected else None)
    assert rejected_headers(topic) == [
        h for h in reject.headers() if h[0] in (CONTENT_TYPE, EXPECTED_SCHEMA)
    ]

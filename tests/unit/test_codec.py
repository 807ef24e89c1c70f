"""Codec: both wire formats, sniffing, every DecodeError reason, raw bytes kept."""

from __future__ import annotations

import json
import shutil
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.errors import ConfigError, DecodeError
from streams.runtime.registry import codec_for
from streams.wire.codec import (
    ConfluentCodec,
    EncodeError,
    RegistryUnavailableError,
    SingleObjectCodec,
    decode_any,
)
from streams.wire.schemas import (
    ACTIVITY_EVENT,
    EXCHANGE_EVENT,
    LOAN_EVENT,
    SCHEMA_DIR,
    load_schemas,
)

SCHEMAS = load_schemas()
LOAN: dict[str, Any] = {
    "event_id": "ev-1",
    "occurred_at": datetime(2026, 6, 1, 9, 30, tzinfo=UTC),
    "user_key": "u-1",
    "national_id": "850101-1234",
    "loan_id": "L-1",
    "lender": "Lendo",
    "product": "CASH_LOAN",
    "type": "DISBURSEMENT",
    "amount": Decimal("1500.00"),
    "currency": "EUR",
    "principal_outstanding": Decimal("1500.00"),
    "days_past_due": 0,
    "due_date": None,
    "term_months": 12,
    "corrects_event_id": None,
}


class NotFoundError(Exception):
    http_status_code = 404


class FakeRegistry:
    """Minimal in-process SchemaRegistryClient: ids from 1, errors on demand."""

    def __init__(self) -> None:
        self.by_id: dict[int, Any] = {}
        self.down = False
        self.calls = 0

    def register_schema(self, subject_name: str, schema: Any) -> int:
        self.calls += 1
        for schema_id, known in self.by_id.items():
            if known.schema_str == schema.schema_str:
                return schema_id
        self.by_id[len(self.by_id) + 1] = schema
        return len(self.by_id)

    def lookup_schema(self, subject_name: str, schema: Any) -> Any:
        raise NotImplementedError

    def get_schema(self, schema_id: int) -> Any:
        self.calls += 1
        if self.down:
            raise ConnectionError("registry down")
        if schema_id not in self.by_id:
            raise NotFoundError(schema_id)
        return self.by_id[schema_id]


class FakeSchema:
    def __init__(self, schema_str: str) -> None:
        self.schema_str = schema_str


def confluent(registry: FakeRegistry | None = None) -> ConfluentCodec:
    return ConfluentCodec(registry or FakeRegistry(), SCHEMAS, schema_factory=FakeSchema)


def rabin64(data: bytes) -> int:
    """CRC-64-AVRO written from the Avro spec, independent of fastavro."""
    empty = 0xC15D213AA4D7A795
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (empty & -(fp & 1))
        table.append(fp)
    fp = empty
    for byte in data:
        fp = (fp >> 8) ^ table[(fp ^ byte) & 0xFF]
    return fp


def reason_of(codec: Any, data: bytes, expected: set[str] | None = None) -> str:
    with pytest.raises(DecodeError) as err:
        codec.decode(data, expected)
    assert err.value.raw is data or err.value.raw == data  # original bytes kept
    return str(err.value.reason)


def test_single_object_header_is_spec_magic_plus_little_endian_rabin_fingerprint() -> None:
    data = SingleObjectCodec(SCHEMAS).encode(LOAN_EVENT, LOAN)
    assert data[:2] == b"\xc3\x01"
    canonical = SCHEMAS.info(LOAN_EVENT).canonical_form.encode()
    assert int.from_bytes(data[2:10], "little") == rabin64(canonical)
    for name in SCHEMAS.names():  # every shipped schema, ours and others'
        info = SCHEMAS.info(name)
        assert info.fingerprint_int == rabin64(info.canonical_form.encode())


@pytest.mark.parametrize("make", [lambda: SingleObjectCodec(SCHEMAS), confluent])
def test_round_trip_and_short_names(make: Any) -> None:
    codec = make()
    name, datum = codec.decode(codec.encode("LoanEvent", LOAN), {LOAN_EVENT})
    assert name == LOAN_EVENT and datum == LOAN


def test_confluent_frame_is_magic_zero_and_big_endian_id_registered_once() -> None:
    registry = FakeRegistry()
    codec = confluent(registry)
    first = codec.encode(LOAN_EVENT, LOAN)
    second = codec.encode(LOAN_EVENT, LOAN)
    assert first[:5] == b"\x00\x00\x00\x00\x01" and first == second
    assert registry.calls == 1  # id cached after the first registration
    registered = json.loads(registry.by_id[1].schema_str)
    assert registered["name"] == LOAN_EVENT and "doc" in registered  # full schema, not PCF


def test_reader_of_another_process_fetches_schema_by_id_once() -> None:
    registry = FakeRegistry()
    data = confluent(registry).encode(LOAN_EVENT, LOAN)
    reader = confluent(registry)
    calls = registry.calls
    assert reader.decode(data) == (LOAN_EVENT, LOAN)
    assert reader.decode(data) == (LOAN_EVENT, LOAN)
    assert registry.calls == calls + 1


def test_sniffing_codec_reads_both_formats_and_encodes_with_the_configured_one() -> None:
    registry = FakeRegistry()
    with_registry = codec_for(None, client=registry, schema_factory=FakeSchema)
    local = codec_for(None)
    framed, single = with_registry.encode(LOAN_EVENT, LOAN), local.encode(LOAN_EVENT, LOAN)
    assert framed[0] == 0 and single[:2] == b"\xc3\x01"
    for data in (framed, single):
        assert with_registry.decode_any(data) == (LOAN_EVENT, LOAN)
    assert decode_any(single, {LOAN_EVENT}) == (LOAN_EVENT, LOAN)
    assert reason_of(local, framed) == "UNKNOWN_SCHEMA"  # registry-framed, none configured


@pytest.mark.parametrize("data", [b"", b"hello", b'{"json": true}', b"\xc3\x02" + bytes(20)])
def test_not_avro(data: bytes) -> None:
    assert reason_of(codec_for(None), data) == "NOT_AVRO"
    assert reason_of(SingleObjectCodec(SCHEMAS), data) == "NOT_AVRO"


def test_unknown_fingerprint_and_unknown_registry_id() -> None:
    data = SingleObjectCodec(SCHEMAS).encode(LOAN_EVENT, LOAN)
    forged = data[:2] + bytes(8) + data[10:]
    assert reason_of(SingleObjectCodec(SCHEMAS), forged) == "UNKNOWN_SCHEMA"
    assert reason_of(confluent(), b"\x00\x00\x00\x00\x07" + data[10:]) == "UNKNOWN_SCHEMA"


def test_wrong_schema_for_the_topic() -> None:
    for codec in (SingleObjectCodec(SCHEMAS), confluent()):
        data = codec.encode(LOAN_EVENT, LOAN)
        assert reason_of(codec, data, {ACTIVITY_EVENT}) == "WRONG_SCHEMA"


@pytest.mark.parametrize("make", [lambda: SingleObjectCodec(SCHEMAS), confluent])
def test_every_truncation_is_truncated_and_keeps_raw(make: Any) -> None:
    codec = make()
    data = codec.encode(LOAN_EVENT, LOAN)
    for cut in range(2, len(data)):
        assert reason_of(codec, data[:cut]) == "TRUNCATED", cut


def test_trailing_bytes_and_bad_enum_index_are_malformed() -> None:
    codec = SingleObjectCodec(SCHEMAS)
    data = codec.encode(LOAN_EVENT, LOAN)
    assert reason_of(codec, data + b"\x00") == "MALFORMED"
    activity = codec.encode(
        ACTIVITY_EVENT,
        {
            "event_id": "e",
            "occurred_at": 0,
            "user_key": "u",
            "national_id": "n",
            "kind": "PURCHASE",
            "amount": Decimal("1.00"),
            "currency": "EUR",
            "category": "c",
        },
    )
    # The kind enum index follows 3 strings and a long; 0x7e = zigzag 63, beyond 6 symbols.
    body = bytearray(activity)
    pos = 10 + 2 + 1 + 2 + 2  # header, "e", ts 0, "u", "n"
    body[pos] = 0x7E
    assert reason_of(codec, bytes(body)) == "MALFORMED"


def test_registry_outage_is_not_blamed_on_the_record() -> None:
    registry = FakeRegistry()
    data = confluent(registry).encode(LOAN_EVENT, LOAN)
    registry.down = True
    with pytest.raises(RegistryUnavailableError):
        confluent(registry).decode(data)


class IncompatibleError(Exception):
    http_status_code = 409


def test_a_schema_the_registry_refuses_is_a_configuration_error_not_an_outage() -> None:
    registry = FakeRegistry()

    def refuse(subject_name: str, schema: Any) -> int:
        raise IncompatibleError("Schema being registered is incompatible with an earlier schema")

    registry.register_schema = refuse  # type: ignore[method-assign]
    with pytest.raises(ConfigError, match=r"refuses io\.creditstream\.LoanEvent: Schema being"):
        confluent(registry).encode(LOAN_EVENT, LOAN)
    registry.down = True  # an outage stays an outage: retried, never a config error
    data = confluent().encode(LOAN_EVENT, LOAN)
    with pytest.raises(RegistryUnavailableError):
        confluent(registry).decode(data)


def test_encode_errors_name_the_field_not_the_value() -> None:
    codec = SingleObjectCodec(SCHEMAS)
    with pytest.raises(EncodeError) as err:
        codec.encode(LOAN_EVENT, {**LOAN, "days_past_due": "850101-1234"})
    assert err.value.reason == "INVALID_FIELD" and "days_past_due" in err.value.message
    assert "850101" not in str(err.value)
    with pytest.raises(EncodeError) as err:
        codec.encode(LOAN_EVENT, {k: v for k, v in LOAN.items() if k != "lender"})
    assert err.value.reason == "MISSING_FIELD"
    with pytest.raises(EncodeError) as err:
        codec.encode("io.creditstream.Nope", LOAN)
    assert err.value.reason == "UNKNOWN_SCHEMA"


def test_data_written_with_the_released_schema_is_read_into_the_current_one(tmp_path: Path) -> None:
    old_dir = tmp_path / "0.0.9"
    shutil.copytree(SCHEMA_DIR, old_dir, ignore=shutil.ignore_patterns("examples", "released"))
    path = old_dir / "io.creditstream.LoanEvent.avsc"
    raw = json.loads(path.read_text())
    raw["fields"] = [f for f in raw["fields"] if f["name"] != "corrects_event_id"]
    path.write_text(json.dumps(raw))
    old = load_schemas(old_dir)
    old_data = SingleObjectCodec(old, released=()).encode(LOAN_EVENT, LOAN)
    current = SingleObjectCodec(SCHEMAS, released=(old,))
    assert old_data[2:10] != current.encode(LOAN_EVENT, LOAN)[2:10]
    assert current.decode(old_data) == (LOAN_EVENT, LOAN)
    assert reason_of(SingleObjectCodec(SCHEMAS, released=()), old_data) == "UNKNOWN_SCHEMA"


@given(st.binary(max_size=64))
def test_random_bytes_never_escape_as_anything_but_decode_error(data: bytes) -> None:
    codec = codec_for(None, client=FakeRegistry(), schema_factory=FakeSchema)
    try:
        codec.decode(data)
    except DecodeError as err:
        assert err.raw == data and err.reason in {
            "NOT_AVRO",
            "UNKNOWN_SCHEMA",
            "TRUNCATED",
            "MALFORMED",
        }


@given(st.binary(max_size=200))
def test_random_body_behind_a_valid_header_is_decoded_or_refused(body: bytes) -> None:
    codec = SingleObjectCodec(SCHEMAS)
    header = codec.encode(
        EXCHANGE_EVENT,
        {
            "event_id": "e",
            "platform": "p",
            "borrower_id": "b",
            "key_version": 1,
            "occurred_at": 0,
            "ingested_at": 0,
            "loan": None,
            "activity": None,
        },
    )[:10]
    try:
        name, _ = codec.decode(header + body)
        assert name == EXCHANGE_EVENT
    except DecodeError as err:
        assert err.reason in {"TRUNCATED", "MALFORMED"} and err.raw == header + body


def test_registry_url_makes_a_lazy_registry_codec() -> None:
    # The registry extra is part of .[dev]: its client must load (no skip without it).
    assert codec_for("http://127.0.0.1:1").confluent is not None  # lazy: no request yet


def test_registry_url_without_the_client_extra_is_a_clear_config_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "confluent_kafka.schema_registry", None)  # not installed
    with pytest.raises(ConfigError, match="schemaregistry"):
        codec_for("http://127.0.0.1:1")


def test_real_confluent_mock_client() -> None:
    # confluent-kafka's own in-memory registry client (the registry extra, in .[dev]); the
    # real registry is in tests/integration/test_registry_interop.py.
    from confluent_kafka.schema_registry._sync import mock_schema_registry_client as mock

    client = mock.MockSchemaRegistryClient({"url": "mock://test"})
    codec = codec_for(None, client=client)
    data = codec.encode(LOAN_EVENT, LOAN)
    assert data[0] == 0 and codec_for(None, client=client).decode(data) == (LOAN_EVENT, LOAN)
    unknown_id = b"\x00\x00\x00\x03\xe7" + data[5:]  # the real client's 404 error
    assert reason_of(codec_for(None, client=client), unknown_id) == "UNKNOWN_SCHEMA"

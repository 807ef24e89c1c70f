"""Schemas in schemas/: docs, examples round-trip through both codecs, evolution checks."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from streams.domain.validation import InvalidEventError, validate_event
from streams.errors import ConfigError
from streams.wire.avrojson import (
    Example,
    JsonDatumError,
    datum_to_json,
    iter_examples,
    json_to_datum,
)
from streams.wire.codec import ConfluentCodec, SingleObjectCodec
from streams.wire.events import ActivityKind, LoanEventType, Product
from streams.wire.evolution import check_backward_compatibility, check_pair
from streams.wire.schemas import (
    ACTIVITY_EVENT,
    LOAN_EVENT,
    SCHEMA_DIR,
    latest_released,
    load_schemas,
    locate_schema_dir,
    released_versions,
)

# Fixed clock for time rules, so examples never expire (see schemas/examples/README.md).
NOW_MS = int(datetime(2026, 9, 1, tzinfo=UTC).timestamp() * 1000)
SCHEMAS = load_schemas()
EXAMPLES = list(iter_examples())
VALID = [e for e in EXAMPLES if e.valid]
INVALID = [e for e in EXAMPLES if not e.valid]
REQUIRED_EXAMPLES = [
    "LoanEvent",
    "ActivityEvent",
    "ExchangeEvent",
    "Subscription",
    "FeedRecord",
    "AuditRecord",
    "BorrowerProfile",
    "ReportIssued",
    "BorrowerRequest",
    "Dispute",
    "RightExercised",
]


class FakeRegistry:
    """In-process stand-in for SchemaRegistryClient (register/lookup/get by id)."""

    def __init__(self) -> None:
        self.by_id: dict[int, Any] = {}

    def register_schema(self, subject_name: str, schema: Any) -> int:
        for schema_id, known in self.by_id.items():
            if known.schema_str == schema.schema_str:
                return schema_id
        self.by_id[len(self.by_id) + 1] = schema
        return len(self.by_id)

    def lookup_schema(self, subject_name: str, schema: Any) -> Any:
        raise NotImplementedError

    def get_schema(self, schema_id: int) -> Any:
        return self.by_id[schema_id]


class FakeSchema:
    def __init__(self, schema_str: str) -> None:
        self.schema_str = schema_str


def _ids(examples: list[Example]) -> list[str]:
    return [f"{e.schema_name.rpartition('.')[2]}/{e.path.name}" for e in examples]


def _walk_docs(node: Any, where: str, missing: list[str]) -> None:
    if isinstance(node, list):
        for branch in node:
            _walk_docs(branch, where, missing)
    elif isinstance(node, dict):
        if node.get("type") in ("record", "enum", "fixed") and not node.get("doc"):
            missing.append(f"{where}:{node.get('name')}")
        for fld in node.get("fields", ()):
            if not fld.get("doc"):
                missing.append(f"{where}.{fld['name']}")
            _walk_docs(fld["type"], f"{where}.{fld['name']}", missing)
        for key in ("items", "values"):
            if key in node:
                _walk_docs(node[key], where, missing)


@pytest.mark.parametrize("path", sorted(SCHEMA_DIR.glob("*.avsc")), ids=lambda p: p.name)
def test_every_schema_file_is_one_documented_named_type_named_by_its_full_name(path: Path) -> None:
    raw = json.loads(path.read_text())
    assert raw["namespace"] == "io.creditstream"
    assert path.name == f"{raw['namespace']}.{raw['name']}.avsc"
    missing: list[str] = []
    _walk_docs(raw, raw["name"], missing)
    assert not missing, f"no doc on {missing}"
    SCHEMAS.info(f"io.creditstream.{raw['name']}")  # parses, references resolve


def test_enums_mirror_the_model_enums_exactly() -> None:
    for enum in (Product, LoanEventType, ActivityKind):
        raw = SCHEMAS.raw(f"io.creditstream.{enum.__name__}")
        assert raw["symbols"] == [m.value for m in enum]


def test_money_is_decimal_18_2_and_times_are_timestamp_millis() -> None:
    loan = {f["name"]: f["type"] for f in SCHEMAS.raw(LOAN_EVENT)["fields"]}
    for name in ("amount", "principal_outstanding"):
        assert loan[name] == {
            "type": "bytes",
            "logicalType": "decimal",
            "precision": 18,
            "scale": 2,
        }
    assert loan["occurred_at"] == {"type": "long", "logicalType": "timestamp-millis"}
    assert loan["currency"] == "string"
    assert loan["due_date"] == ["null", {"type": "int", "logicalType": "date"}]


@pytest.mark.parametrize("name", REQUIRED_EXAMPLES)
def test_every_wire_record_has_valid_and_invalid_examples(name: str) -> None:
    assert f"io.creditstream.{name}" in SCHEMAS, f"{name} schema is missing"
    assert any(e.schema_name.endswith(f".{name}") for e in VALID)
    assert any(e.schema_name.endswith(f".{name}") for e in INVALID)


@pytest.mark.parametrize("example", VALID, ids=_ids(VALID))
def test_valid_example_round_trips_through_both_wire_formats(example: Example) -> None:
    datum = json_to_datum(example.schema_name, example.load())
    single = SingleObjectCodec(SCHEMAS)
    confluent = ConfluentCodec(FakeRegistry(), SCHEMAS, schema_factory=FakeSchema)
    for codec in (single, confluent):
        name, decoded = codec.decode(
            codec.encode(example.schema_name, datum), {example.schema_name}
        )
        assert name == example.schema_name
        assert decoded == datum
        assert datum_to_json(decoded) == datum_to_json(datum)
    if example.schema_name in (LOAN_EVENT, ACTIVITY_EVENT):
        validate_event(example.schema_name, datum, NOW_MS)  # valid for the business rules too


@pytest.mark.parametrize("example", INVALID, ids=_ids(INVALID))
def test_invalid_example_is_refused_with_the_reason_in_its_name(example: Example) -> None:
    try:
        datum = json_to_datum(example.schema_name, example.load())
        if example.schema_name not in (LOAN_EVENT, ACTIVITY_EVENT):
            pytest.fail(f"{example.path.name} was accepted by the schema")
        validate_event(example.schema_name, datum, NOW_MS)
    except (JsonDatumError, InvalidEventError) as exc:
        if example.expected_reason is not None:
            assert exc.reason == example.expected_reason
        return
    pytest.fail(f"{example.path.name} was accepted")


def test_json_convention_converts_types_and_refuses_floats() -> None:
    datum = json_to_datum("LoanEvent", _first_loan())
    assert datum["amount"] == Decimal("1500.00") and datum["amount"].as_tuple().exponent == -2
    assert datum["occurred_at"] == datetime(2026, 6, 1, 9, 30, tzinfo=UTC)
    assert datum["due_date"] == date(2026, 7, 1)
    with pytest.raises(JsonDatumError) as err:
        json_to_datum("LoanEvent", {**_first_loan(), "amount": 12.5})
    assert err.value.reason == "INVALID_FIELD" and err.value.field == "LoanEvent.amount"


def _first_loan() -> dict[str, Any]:
    loaded: dict[str, Any] = next(
        e for e in VALID if e.path.stem == "disbursement_cash_loan"
    ).load()
    return loaded


def test_released_version_exists_and_every_schema_is_backward_compatible() -> None:
    assert released_versions(), "schemas/released/<version>/ must hold the last release"
    released = latest_released()
    assert released is not None
    results = check_backward_compatibility(SCHEMAS, released)
    assert {r.name for r in results} == set(SCHEMAS.names())
    bad = [r for r in results if not r.ok]
    assert not bad, bad
    assert any(r.status == "COMPATIBLE" for r in results)


def _changed(mutate: Any) -> tuple[str, ...]:
    current = SCHEMAS.info(LOAN_EVENT).resolved
    new = json.loads(json.dumps(current))
    mutate(new)
    return check_pair(new, current)


def test_compat_check_fails_on_new_field_without_default() -> None:
    add = {"name": "risk_grade", "type": "string", "doc": "new"}
    assert _changed(lambda s: s["fields"].append(add))
    # ...and passes once the new field has a default.
    assert not _changed(lambda s: s["fields"].append({**add, "default": "NONE"}))


def test_compat_check_fails_on_removed_enum_symbol() -> None:
    def drop_sme(schema: dict[str, Any]) -> None:
        product = next(f for f in schema["fields"] if f["name"] == "product")
        product["type"]["symbols"].remove("SME")

    problems = _changed(drop_sme)
    assert any("SME" in p for p in problems), problems


def test_compat_check_fails_on_changed_decimal_scale() -> None:
    def rescale(schema: dict[str, Any]) -> None:
        next(f for f in schema["fields"] if f["name"] == "amount")["type"]["scale"] = 3

    assert any("logical type changed" in p for p in _changed(rescale))


def test_compat_check_over_folders_reports_incompatible_schema(tmp_path: Path) -> None:
    current, released = tmp_path / "current", tmp_path / "released"
    shutil.copytree(SCHEMA_DIR / "released" / released_versions()[-1], released)
    shutil.copytree(released, current)
    path = current / "io.creditstream.FeedRecord.avsc"
    raw = json.loads(path.read_text())
    raw["fields"].append({"name": "tier", "type": "int", "doc": "no default: breaks readers"})
    path.write_text(json.dumps(raw))
    results = {
        r.name: r
        for r in check_backward_compatibility(load_schemas(current), load_schemas(released))
    }
    assert results["io.creditstream.FeedRecord"].status == "INCOMPATIBLE"
    assert results["io.creditstream.LoanEvent"].status == "COMPATIBLE"


def test_a_folder_without_schemas_is_a_config_error_not_an_empty_set(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("no schemas here")
    for folder in (tmp_path, tmp_path / "absent"):
        with pytest.raises(ConfigError, match=r"no Avro schemas \(\*\.avsc\) in "):
            load_schemas(folder)


def test_schema_folder_is_package_data_when_installed_else_the_checkouts(tmp_path: Path) -> None:
    package = tmp_path / "streams"
    package.mkdir()
    assert locate_schema_dir(package) == package / "_schemas"  # neither: where expected
    (tmp_path / "schemas").mkdir()
    assert locate_schema_dir(package) == tmp_path / "schemas"  # checkout / editable
    (package / "_schemas").mkdir()
    assert locate_schema_dir(package) == package / "_schemas"  # installed wheel

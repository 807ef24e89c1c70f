"""``creditstream schemas check|list``: a schema change tested against the released
schemas in plain words, through the CLI's own entry point."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from streams.cli import main
from streams.wire import schemas

SUBSCRIPTION = "io.creditstream.Subscription"


def released(name: str = SUBSCRIPTION) -> dict[str, Any]:
    version = schemas.released_versions()[-1]
    path = schemas.RELEASED_DIR / version / f"{name}.avsc"
    raw: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return copy.deepcopy(raw)


def write(tmp_path: Path, schema: dict[str, Any], name: str = "s.avsc") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(schema), encoding="utf-8")
    return str(path)


def check(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["schemas", "check", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_new_field_with_a_default_is_compatible(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    schema = released()
    schema["fields"].append({"name": "channel", "type": "string", "default": "web"})
    code, out, err = check(capsys, write(tmp_path, schema))
    assert (code, err) == (0, "")
    assert out.strip().endswith(f"{SUBSCRIPTION} is compatible with release 0.1.0")


def test_the_shipped_schemas_are_compatible_with_their_release(
    capsys: pytest.CaptureFixture[str],
) -> None:
    files = [
        str(schemas.SCHEMA_DIR / f"{n}.avsc") for n in ("io.creditstream.LoanEvent", SUBSCRIPTION)
    ]
    code, out, _ = check(capsys, *files)
    assert code == 0 and out.count("is compatible") == 2


def test_a_removed_field_without_default_fails_with_a_readable_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    schema = released()
    schema["fields"] = [f for f in schema["fields"] if f["name"] != "consent_ref"]
    code, out, _ = check(capsys, write(tmp_path, schema))
    assert code == 1
    assert f"{SUBSCRIPTION} is NOT compatible with release 0.1.0:" in out
    assert (
        "  - field consent_ref: release 0.1.0 needs it and gives no default, "
        "but the new schema does not have it"
    ) in out.splitlines()


def test_a_changed_type_fails_both_ways_naming_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    schema = released()
    (field,) = [f for f in schema["fields"] if f["name"] == "customer_ref"]
    field["type"] = "int"
    code, out, _ = check(capsys, write(tmp_path, schema))
    assert code == 1
    lines = out.splitlines()
    assert (
        "  - field customer_ref: release 0.1.0 has type string, which the new schema "
        "(type int) cannot read"
    ) in lines
    assert (
        "  - field customer_ref: the new schema has type int, which release 0.1.0 "
        "(type string) cannot read"
    ) in lines


def test_a_new_field_without_default_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    schema = released()
    schema["fields"].append({"name": "channel", "type": "string"})
    code, out, _ = check(capsys, write(tmp_path, schema))
    assert code == 1
    assert "field channel: the new schema needs it and gives no default" in out


def test_one_bad_file_among_good_ones_exits_1_and_json_says_which(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = released()
    bad["fields"].append({"name": "channel", "type": "string"})
    good = released("io.creditstream.LoanEvent")
    code, out, _ = check(
        capsys, "--json", write(tmp_path, bad, "a.avsc"), write(tmp_path, good, "b.avsc")
    )
    assert code == 1
    report = {r["name"]: r for r in json.loads(out)}
    assert report[SUBSCRIPTION]["compatible"] is False
    assert report["io.creditstream.LoanEvent"]["compatible"] is True


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ('{"type": "record", ', "not valid JSON: Expecting property name"),
        ('["string"]', "not an Avro named type"),
        (
            json.dumps({**released(), "name": "Nobody"}),
            "io.creditstream.Nobody has no released schema to check against",
        ),
        (
            json.dumps({**released(), "fields": [{"name": "x", "type": "strng"}]}),
            "invalid Avro schema: schema reference 'strng' is not defined",
        ),
    ],
)
def test_a_bad_file_is_one_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, error: str
) -> None:
    path = tmp_path / "x.avsc"
    path.write_text(text, encoding="utf-8")
    code, out, err = check(capsys, str(path))
    assert code == 1 and out == ""
    assert err.count("\n") == 1
    assert err.startswith(f"creditstream: error: {path}: ") and error in err


def test_a_missing_file_is_one_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = check(capsys, str(tmp_path / "nope.avsc"))
    assert code == 1 and err.count("\n") == 1 and "nope.avsc" in err


def test_list_gives_each_fingerprint_and_released_versions(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["schemas", "list", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    shipped = schemas.load_schemas()
    assert set(rows) == set(shipped.top_level)
    sub = rows[SUBSCRIPTION]
    assert sub["fingerprint"] == schemas.fingerprint(SUBSCRIPTION).hex()
    assert sub["fingerprint_int"] == int.from_bytes(bytes.fromhex(sub["fingerprint"]), "little")
    assert sub["released"] == ["0.1.0"]
    assert rows["io.creditstream.BorrowerProfile"]["released"] == []
    assert main(["schemas", "list"]) == 0
    text = capsys.readouterr().out
    line = next(ln for ln in text.splitlines() if ln.startswith(SUBSCRIPTION + " "))
    assert sub["fingerprint"] in line and "0.1.0" in line
    assert "not yet released" in text


def test_every_option_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    for args in (["schemas", "check", "--help"], ["schemas", "list", "--help"]):
        with pytest.raises(SystemExit):
            main(args)
        out = capsys.readouterr().out
        assert "--json" in out

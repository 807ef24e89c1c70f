"""The audit hash chain: sealing, verification, tamper detection, stable encoding."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.domain.audit import (
    GENESIS,
    SEALED_FIELDS,
    ChainHead,
    ChainVerifier,
    ProblemKind,
    canonical,
    record_hash,
    seal,
    verify,
)
from streams.runtime.registry import codec_for
from streams.wire.schemas import AUDIT_RECORD

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CODEC = codec_for(None)

FIELDS: dict[str, Any] = {
    "bank": "nordbank",
    "borrower_id": "5f" * 32,
    "customer_ref": "nordbank-c-100234",
    "profile_version": 17,
    "purpose": "CREDIT_APPLICATION",
    "consent_ref": "CONS-2026-0007781",
    "delivered_at": 1_785_888_001_020,
    "feed_topic": "banks.nordbank.feed",
}

text = st.text(min_size=0, max_size=12)
fields_st = st.fixed_dictionaries(
    {
        "bank": st.sampled_from(["nordbank", "southbank", "b-3"]),
        "borrower_id": st.text("0123456789abcdef", min_size=64, max_size=64),
        "customer_ref": text,
        "profile_version": st.integers(0, 2**62),
        "purpose": st.sampled_from(["CREDIT_APPLICATION", "ACCOUNT_REVIEW", "COLLECTIONS"]),
        "consent_ref": text,
        "delivered_at": st.integers(0, 2**45),
        "feed_topic": st.sampled_from(["banks.nordbank.feed", "banks.southbank.feed"]),
    }
)


def chain(fields: list[dict[str, Any]]) -> list[tuple[int, dict[str, Any]]]:
    """Sealed records at offsets with gaps (transaction markers take offsets)."""
    head = ChainHead()
    return [(3 * i, head.seal(f)) for i, f in enumerate(fields)]


def test_first_record_links_to_genesis_and_hash_covers_prev_hash() -> None:
    first = seal(GENESIS, FIELDS)
    assert first["prev_hash"] == "0" * 64
    assert first["hash"] == record_hash(FIELDS, GENESIS)
    assert first["hash"] != record_hash(FIELDS, "1" * 64)
    second = seal(first["hash"], FIELDS)
    assert second["prev_hash"] == first["hash"]
    assert second["hash"] != first["hash"]


def test_canonical_encoding_is_pinned() -> None:
    # A change here changes every hash ever written: it must be a new _TAG version.
    assert canonical(FIELDS, GENESIS) == (
        b"creditstream.audit.v1\n"
        b'{"bank":"nordbank","borrower_id":"' + b"5f" * 32 + b'","consent_ref":'
        b'"CONS-2026-0007781","customer_ref":"nordbank-c-100234","delivered_at":'
        b'1785888001020,"feed_topic":"banks.nordbank.feed","prev_hash":"' + b"0" * 64 + b'",'
        b'"profile_version":17,"purpose":"CREDIT_APPLICATION"}'
    )
    assert record_hash(FIELDS, GENESIS) == (
        "52d8938c1de5c7fb1aa2cc498c406a8f78702373a714d41528231b2d6ac0c3f6"
    )


def json_canonical(fields: dict[str, Any], prev_hash: str) -> bytes:
    """The definition ``canonical`` writes out by hand (the audit module's contract)."""
    out = {n: fields[n] for n in SEALED_FIELDS} | {"prev_hash": prev_hash}
    text = json.dumps(out, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return b"creditstream.audit.v1\n" + text.encode("ascii")


@SETTINGS
@given(fields_st, st.text(max_size=70), st.text(max_size=20), st.text(max_size=20))
def test_canonical_is_the_sorted_compact_ascii_json(
    fields: dict[str, Any], prev_hash: str, bank: str, ref: str
) -> None:
    fields = fields | {"bank": bank, "customer_ref": ref + '"\\\n\x00\u2028\U0001f600'}
    assert canonical(fields, prev_hash) == json_canonical(fields, prev_hash)


def test_non_ascii_text_hashes_the_same_as_escaped() -> None:
    fields = FIELDS | {"consent_ref": "Zustimmung-ä-€"}
    assert b"\\u00e4" in canonical(fields, GENESIS)
    assert canonical(fields, GENESIS).isascii()


def test_datetime_and_epoch_ms_hash_alike_so_an_avro_round_trip_verifies() -> None:
    records = chain([FIELDS, FIELDS | {"profile_version": 18}])
    decoded = []
    for offset, datum in records:
        name, back = CODEC.decode(CODEC.encode(AUDIT_RECORD, datum))
        assert name == AUDIT_RECORD
        assert isinstance(back["delivered_at"], datetime)
        decoded.append((offset, back))
    assert verify(decoded) == []
    as_dt = FIELDS | {"delivered_at": datetime.fromtimestamp(1_785_888_001.020, UTC)}
    assert record_hash(as_dt, GENESIS) == record_hash(FIELDS, GENESIS)


@pytest.mark.parametrize(
    ("name", "value"),
    [("bank", None), ("profile_version", "17"), ("delivered_at", True), ("purpose", 1)],
)
def test_seal_refuses_missing_or_mistyped_fields(name: str, value: object) -> None:
    fields = dict(FIELDS)
    if value is None:
        del fields[name]
    else:
        fields[name] = value
    with pytest.raises(ValueError, match=name):
        seal(GENESIS, fields)


def test_chain_head_checkpoint_and_reset_drop_an_aborted_batch() -> None:
    head = ChainHead()
    kept = head.seal(FIELDS)
    mark = head.checkpoint()
    head.seal(FIELDS | {"profile_version": 99})  # transaction aborted: never written
    head.reset(mark)
    nxt = head.seal(FIELDS | {"profile_version": 18})
    assert verify([(0, kept), (1, nxt)]) == []
    assert ChainHead.after(nxt).hash == nxt["hash"]
    assert ChainHead.after(None).hash == GENESIS


@SETTINGS
@given(st.lists(fields_st, max_size=12))
def test_any_sealed_sequence_verifies(fields: list[dict[str, Any]]) -> None:
    assert verify(chain(fields)) == []


@SETTINGS
@given(st.lists(fields_st, min_size=1, max_size=8), st.data())
def test_any_single_field_modification_is_detected_at_its_offset(
    fields: list[dict[str, Any]], data: st.DataObject
) -> None:
    records = chain(fields)
    i = data.draw(st.integers(0, len(records) - 1))
    name = data.draw(st.sampled_from([*SEALED_FIELDS, "prev_hash", "hash"]))
    offset, datum = records[i]
    old = datum[name]
    value = data.draw(st.integers(0, 2**62) if isinstance(old, int) else st.text(max_size=70))
    if value == old:
        value = old + 1 if isinstance(old, int) else old + "x"
    records[i] = (offset, datum | {name: value})
    problems = verify(records)
    assert problems, f"modifying {name} went unnoticed"
    assert problems[0].offset == offset
    if name != "prev_hash":
        assert problems[0].kind is ProblemKind.MODIFIED


@SETTINGS
@given(st.lists(fields_st, min_size=2, max_size=8), st.data())
def test_removing_any_record_but_the_newest_is_detected(
    fields: list[dict[str, Any]], data: st.DataObject
) -> None:
    records = chain(fields)
    i = data.draw(st.integers(0, len(records) - 2))
    after = records[i + 1][0]
    del records[i]
    problems = verify(records)
    assert [p.kind for p in problems] == [ProblemKind.BROKEN_LINK]
    assert problems[0].offset == after


@SETTINGS
@given(st.lists(fields_st, min_size=2, max_size=8), st.data())
def test_swapping_any_two_records_is_detected(
    fields: list[dict[str, Any]], data: st.DataObject
) -> None:
    records = chain(fields)
    i = data.draw(st.integers(0, len(records) - 2))
    j = data.draw(st.integers(i + 1, len(records) - 1))
    (oi, di), (oj, dj) = records[i], records[j]
    records[i], records[j] = (oi, dj), (oj, di)
    problems = verify(records)
    assert problems
    assert {p.kind for p in problems} == {ProblemKind.BROKEN_LINK}
    assert problems[0].offset == oi


def test_messages_tell_reordering_from_removal() -> None:
    records = chain([FIELDS | {"profile_version": v} for v in range(5)])
    swapped = [records[0], records[2], records[1], records[3], records[4]]
    messages = [str(p) for p in verify(swapped)]
    assert any("links to the record at offset 3" in m for m in messages)
    removed = [records[0], records[2], records[3], records[4]]
    (problem,) = verify(removed)
    assert problem.offset == 6
    assert "removed" in problem.message
    (first,) = verify(records[1:])
    assert first.offset == 3
    assert "first record" in first.message


def test_chain_may_start_mid_partition_when_old_records_aged_out() -> None:
    records = chain([FIELDS | {"profile_version": v} for v in range(4)])
    assert verify(records[2:], start=None) == []
    assert verify(records[2:]) != []


def test_undecodable_or_foreign_records_are_malformed_and_do_not_hide_later_tampering() -> None:
    sealed = chain([FIELDS | {"profile_version": v} for v in range(4)])
    last_offset, last = sealed[3]
    records: list[tuple[int, dict[str, Any] | None]] = list(sealed)
    records[1] = (records[1][0], None)
    records[3] = (last_offset, last | {"bank": "otherbank"})
    kinds = [(p.offset, p.kind) for p in verify(records)]
    assert (3, ProblemKind.MALFORMED) in kinds
    assert (last_offset, ProblemKind.MODIFIED) in kinds


def test_streaming_verifier_counts_records() -> None:
    verifier = ChainVerifier()
    for offset, datum in chain([FIELDS] * 3):
        verifier.add(offset, datum)
    assert verifier.count == 3
    assert verifier.finish() == []

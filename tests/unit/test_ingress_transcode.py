"""The ingress transcoder against the generic path: the same outcome for every record.

Two processors see the same records, one reading and writing current-schema records by
hand (``stages.ingress.transcode``), one through the codec only: every accepted event
must come out byte for byte the same, every refusal with the same reason and message.
Records are generated valid and invalid, then corrupted, and written with longer
encodings than fastavro's (which the transcoder must hand to the generic path).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from hypothesis import event, given, settings
from hypothesis import strategies as st

from streams.domain.privacy import Pseudonymizer
from streams.domain.validation import DEFAULT_LIMITS
from streams.runtime.registry import codec_for
from streams.stages.ingress.dedup import Dedup
from streams.stages.ingress.process import Accepted, IngressProcessor, RawRecord, Refused
from streams.stages.ingress.transcode import Transcoder
from streams.wire.events import ActivityKind, LoanEventType, Product
from streams.wire.schemas import ACTIVITY_EVENT, LOAN_EVENT

CODEC = codec_for(None)
KEY = "unit-test-key-0123456789abcdef"
NOW = int(datetime(2026, 11, 1, tzinfo=UTC).timestamp() * 1000)


def pair() -> tuple[IngressProcessor, IngressProcessor]:
    def make(transcode: bool) -> IngressProcessor:
        dedup = Dedup(10_000, 4)
        pseudo = Pseudonymizer({1: KEY}, 1)
        return IngressProcessor(CODEC, pseudo, DEFAULT_LIMITS, dedup, transcode=transcode)

    fast, slow = make(True), make(False)
    assert fast.transcoder.fast and not slow.transcoder.fast
    return fast, slow


def same(outcome: Accepted | Refused, other: Accepted | Refused) -> bool:
    if isinstance(outcome, Refused) and isinstance(other, Refused):
        mine, theirs = outcome.reject, other.reject
        return (mine.reason, mine.message, mine.original) == (
            theirs.reason,
            theirs.message,
            theirs.original,
        )
    return outcome == other


# Valid values, and now and then one field broken (so most records are accepted and
# their bytes compared, and every kind of refusal still comes up).
texts = st.text(min_size=1, max_size=60).filter(str.strip)
ids = st.from_regex(r"[A-Za-z0-9]{4,32}", fullmatch=True)
amounts = st.decimals(min_value=0, max_value=Decimal("9999999999999999.99"), places=2)
BROKEN: dict[str, list[Any]] = {
    "event_id": ["", " ", "x" * 140],
    "user_key": [""],
    "national_id": ["ab 123-456", "x", "", "Z" * 40],
    "occurred_at": [-(1 << 50), 0, NOW - 1900 * 86_400_000, NOW + 86_400_000, 1 << 50],
    "amount": [Decimal("-0.01")],
    "currency": ["XXX", ""],
    "loan_id": [""],
    "days_past_due": [-1, 3651, -(1 << 31)],
    "term_months": [0, 601],
    "corrects_event_id": ["e0"],
    "category": ["y" * 129],
}


def common() -> dict[str, Any]:
    return {
        "event_id": texts,
        "occurred_at": st.integers(NOW - 1800 * 86_400_000, NOW),
        "user_key": texts,
        "national_id": ids,
        "amount": amounts,
        "currency": st.sampled_from(["EUR", "USD"]),
    }


def broken(draw: st.DrawFn, datum: dict[str, Any]) -> dict[str, Any]:
    if draw(st.integers(0, 3)):
        return datum
    name = draw(st.sampled_from(sorted(set(BROKEN) & set(datum))))
    return datum | {name: draw(st.sampled_from(BROKEN[name]))}


@st.composite
def loans(draw: st.DrawFn) -> dict[str, Any]:
    typ = draw(st.sampled_from(list(LoanEventType)).map(str))
    datum = draw(st.fixed_dictionaries(common())) | {
        "loan_id": draw(texts),
        "lender": draw(texts),
        "product": draw(st.sampled_from(list(Product)).map(str)),
        "type": typ,
        "principal_outstanding": draw(amounts),
        "days_past_due": draw(st.integers(0, 3650)),
        "due_date": draw(st.none() | st.dates(date(1900, 1, 1), date(3000, 1, 1))),
        "term_months": draw(st.none() | st.integers(1, 600)),
        "corrects_event_id": draw(texts) if typ == "CORRECTION" else None,
    }
    return broken(draw, datum)


@st.composite
def activities(draw: st.DrawFn) -> dict[str, Any]:
    datum = draw(st.fixed_dictionaries(common())) | {
        "kind": draw(st.sampled_from(list(ActivityKind)).map(str)),
        "category": draw(texts),
    }
    return broken(draw, datum)


def encode(schema: str, datum: dict[str, Any]) -> bytes:
    return CODEC.encode(schema, datum)


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        loans().map(lambda d: (LOAN_EVENT, d)), activities().map(lambda d: (ACTIVITY_EVENT, d))
    )
)
def test_generated_records_come_out_the_same(item: tuple[str, dict[str, Any]]) -> None:
    schema, datum = item
    raw = encode(schema, datum)
    fast, slow = pair()
    for topic in ("ingest.acme.loans", "ingest.acme.activity"):
        rec = RawRecord(topic, 0, 1, raw, NOW - 5)
        got, want = fast.process(rec, NOW), slow.process(rec, NOW)
        assert same(got, want), (got, want)
        event(type(got).__name__ if isinstance(got, Accepted) else got.reject.reason)


@settings(max_examples=300, deadline=None)
@given(loans(), st.data())
def test_corrupted_records_come_out_the_same(datum: dict[str, Any], data: st.DataObject) -> None:
    raw = bytearray(encode(LOAN_EVENT, datum))
    edit = data.draw(st.sampled_from(["flip", "cut", "append", "insert"]))
    at = data.draw(st.integers(10, len(raw) - 1))
    if edit == "flip":
        raw[at] = data.draw(st.integers(0, 255))
    elif edit == "cut":
        del raw[at:]
    elif edit == "append":
        raw += data.draw(st.binary(min_size=1, max_size=4))
    else:
        raw[at:at] = data.draw(st.binary(min_size=1, max_size=3))
    fast, slow = pair()
    rec = RawRecord("ingest.acme.loans", 0, 1, bytes(raw), NOW - 5)
    got, want = fast.process(rec, NOW), slow.process(rec, NOW)
    assert same(got, want), (got, want)


def valid_loan() -> dict[str, Any]:
    return {
        "event_id": "e1",
        "occurred_at": NOW - 60_000,
        "user_key": "u",
        "national_id": "AB123456",
        "loan_id": "L",
        "lender": "Lender",
        "product": "BNPL",
        "type": "DISBURSEMENT",
        "amount": Decimal("10.00"),
        "currency": "EUR",
        "principal_outstanding": Decimal("10.00"),
        "days_past_due": 0,
        "due_date": None,
        "term_months": None,
        "corrects_event_id": None,
    }


def test_longer_encodings_than_fastavros_are_left_to_the_generic_path() -> None:
    fast, _ = pair()
    raw = encode(LOAN_EVENT, valid_loan())
    assert fast.transcoder.read(raw, "loans") is not None
    # event_id "e1": length 2 as the two-byte varint 0x84 0x00 instead of 0x04
    longer_length = raw[:10] + b"\x84\x00" + raw[11:]
    # amount 10.00 (unscaled 1000 = 0x03e8) with a needless sign byte
    plain = b"\x04\x03\xe8"
    assert raw.count(plain) == 2
    padded_amount = raw.replace(plain, b"\x06\x00\x03\xe8", 1)
    # an amount beyond decimal(18, 2), as a writer that does not check precision sends it
    too_big = raw.replace(plain, b"\x12" + (10**18).to_bytes(9, "big", signed=True), 1)
    for odd, accepted in ((longer_length, True), (padded_amount, True), (too_big, False)):
        assert fast.transcoder.read(odd, "loans") is None
        fast, slow = pair()
        rec = RawRecord("ingest.acme.loans", 0, 1, odd, NOW)
        got, want = fast.process(rec, NOW), slow.process(rec, NOW)
        assert isinstance(got, Accepted) is accepted and same(got, want), (got, want)


def test_a_wrong_schema_for_the_topic_is_left_to_the_generic_path() -> None:
    fast, _ = pair()
    raw = encode(LOAN_EVENT, valid_loan())
    assert fast.transcoder.read(raw, "activity") is None
    got = fast.process(RawRecord("ingest.acme.activity", 0, 1, raw, NOW), NOW)
    assert isinstance(got, Refused) and got.reject.reason == "WRONG_SCHEMA"


def test_switched_off_it_reads_nothing() -> None:
    raw = encode(LOAN_EVENT, valid_loan())
    assert Transcoder(CODEC).read(raw, "loans") is not None
    off = Transcoder(CODEC, enabled=False)
    assert not off.fast and off.read(raw, "loans") is None

"""Validation: every reason, no personal data in messages, ExchangeEvent <-> Avro."""

from __future__ import annotations

import string
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.domain.privacy import Pseudonymizer
from streams.domain.validation import (
    DEFAULT_LIMITS,
    InvalidEventError,
    ValidationLimits,
    check_size,
    from_avro,
    to_avro,
    to_exchange_event,
    validate_event,
)
from streams.errors import DecodeError
from streams.wire.codec import SingleObjectCodec
from streams.wire.events import ActivityKind, ExchangeEvent, LoanEventType, Product
from streams.wire.rejects import Reason
from streams.wire.schemas import ACTIVITY_EVENT, EXCHANGE_EVENT, LOAN_EVENT, SUBSCRIPTION

NOW = datetime(2026, 9, 1, tzinfo=UTC)
NOW_MS = int(NOW.timestamp() * 1000)
PSEUDO = Pseudonymizer({1: "k1-0123456789abcdef-secret", 2: "k2-0123456789abcdef-secret"})
LOAN: dict[str, Any] = {
    "event_id": "ev-1",
    "occurred_at": NOW - timedelta(days=1),
    "user_key": "u-48213",
    "national_id": "850101-1234",
    "loan_id": "L-1",
    "lender": "Lendo",
    "product": "CASH_LOAN",
    "type": "DISBURSEMENT",
    "amount": Decimal("1500.00"),
    "currency": "EUR",
    "principal_outstanding": Decimal("1500.00"),
    "days_past_due": 0,
    "due_date": date(2026, 10, 1),
    "term_months": 12,
    "corrects_event_id": None,
}
ACTIVITY: dict[str, Any] = {
    "event_id": "a-1",
    "occurred_at": NOW - timedelta(hours=1),
    "user_key": "c-9",
    "national_id": "AB 123.456-C",
    "kind": "TRAVEL_BOOKING",
    "amount": Decimal("612.00"),
    "currency": "SEK",
    "category": "flights",
}


def reason(datum: dict[str, Any], schema: str = LOAN_EVENT, **limits: Any) -> str:
    with pytest.raises(InvalidEventError) as err:
        validate_event(schema, datum, NOW_MS, replace(DEFAULT_LIMITS, **limits))
    return str(err.value.reason)


def test_reason_codes_cover_the_design_list() -> None:
    design = {
        "NOT_AVRO",
        "UNKNOWN_SCHEMA",
        "WRONG_SCHEMA",
        "MISSING_FIELD",
        "INVALID_FIELD",
        "NEGATIVE_AMOUNT",
        "UNKNOWN_CURRENCY",
        "FUTURE_TIMESTAMP",
        "TOO_OLD",
        "INVALID_DAYS_PAST_DUE",
        "DUPLICATE_EVENT",
        "OVERSIZE",
        "TRUNCATED",
        "MALFORMED",
    }
    assert design <= {r.value for r in Reason}
    assert all(r.value == r.name for r in Reason)  # stable, greppable codes


CASES: list[tuple[str, dict[str, Any], str]] = [
    ("MISSING_FIELD", {"national_id": None}, LOAN_EVENT),
    ("MISSING_FIELD", {"national_id": " "}, LOAN_EVENT),
    ("MISSING_FIELD", {"event_id": ""}, LOAN_EVENT),
    ("MISSING_FIELD", {"user_key": ""}, ACTIVITY_EVENT),
    ("MISSING_FIELD", {"lender": ""}, LOAN_EVENT),
    ("MISSING_FIELD", {"type": "CORRECTION"}, LOAN_EVENT),
    ("INVALID_FIELD", {"national_id": "12"}, LOAN_EVENT),
    ("INVALID_FIELD", {"national_id": "85010112349999999999999999999999999"}, LOAN_EVENT),
    ("INVALID_FIELD", {"corrects_event_id": "ev-0"}, LOAN_EVENT),
    ("INVALID_FIELD", {"type": "CORRECTION", "corrects_event_id": "ev-1"}, LOAN_EVENT),
    ("INVALID_FIELD", {"term_months": 0}, LOAN_EVENT),
    ("INVALID_FIELD", {"product": "PAYDAY"}, LOAN_EVENT),
    ("INVALID_FIELD", {"kind": "GAMBLING"}, ACTIVITY_EVENT),
    ("INVALID_FIELD", {"loan_id": "x" * 129}, LOAN_EVENT),
    ("NEGATIVE_AMOUNT", {"amount": Decimal("-0.01")}, LOAN_EVENT),
    ("NEGATIVE_AMOUNT", {"principal_outstanding": Decimal("-5.00")}, LOAN_EVENT),
    ("NEGATIVE_AMOUNT", {"amount": Decimal("-1.00")}, ACTIVITY_EVENT),
    ("UNKNOWN_CURRENCY", {"currency": "XYZ"}, LOAN_EVENT),
    ("UNKNOWN_CURRENCY", {"currency": "eur"}, ACTIVITY_EVENT),
    ("FUTURE_TIMESTAMP", {"occurred_at": NOW + timedelta(minutes=6)}, LOAN_EVENT),
    ("TOO_OLD", {"occurred_at": NOW - timedelta(days=1827)}, LOAN_EVENT),
    ("INVALID_DAYS_PAST_DUE", {"days_past_due": -1}, LOAN_EVENT),
    ("INVALID_DAYS_PAST_DUE", {"days_past_due": 3651}, LOAN_EVENT),
]


@pytest.mark.parametrize(("expected", "change", "schema"), CASES)
def test_each_rule_has_its_reason(expected: str, change: dict[str, Any], schema: str) -> None:
    base = LOAN if schema == LOAN_EVENT else ACTIVITY
    assert reason({**base, **change}, schema) == expected


def test_missing_keys_and_wrong_schema() -> None:
    assert reason({k: v for k, v in LOAN.items() if k != "amount"}) == "MISSING_FIELD"
    assert reason({k: v for k, v in ACTIVITY.items() if k != "kind"}, ACTIVITY_EVENT) == (
        "MISSING_FIELD"
    )
    assert reason(LOAN, SUBSCRIPTION) == "WRONG_SCHEMA"


def test_limits_are_configurable_and_boundaries_are_inclusive() -> None:
    at_skew = {**LOAN, "occurred_at": NOW + timedelta(minutes=5)}
    validate_event(LOAN_EVENT, at_skew, NOW_MS)
    assert reason(at_skew, max_clock_skew_ms=0) == "FUTURE_TIMESTAMP"
    assert reason({**LOAN, "currency": "EUR"}, currencies=frozenset({"USD"})) == "UNKNOWN_CURRENCY"
    validate_event(LOAN_EVENT, {**LOAN, "days_past_due": 3650}, NOW_MS)
    validate_event(LOAN_EVENT, {**LOAN, "occurred_at": NOW_MS - 1000}, NOW_MS)  # int ms accepted


def test_oversize_is_refused_before_decoding_with_raw_and_origin() -> None:
    raw = b"\xc3\x01" + bytes(200)
    check_size(raw, ValidationLimits(max_record_bytes=202))
    with pytest.raises(DecodeError) as err:
        check_size(raw, ValidationLimits(max_record_bytes=201), topic="ingest.p.loans", offset=7)
    assert err.value.reason == "OVERSIZE" and err.value.raw is raw and err.value.offset == 7


def test_to_exchange_event_pseudonymizes_and_drops_raw_identifiers() -> None:
    event = to_exchange_event("lendo", LOAN_EVENT, LOAN, PSEUDO, NOW_MS, NOW_MS + 5)
    assert event.borrower_id == PSEUDO.borrower_id("8501011234", 2) and event.key_version == 2
    assert event.platform == "lendo" and event.ingested_at_ms == NOW_MS + 5
    assert event.occurred_at_ms == NOW_MS - 86_400_000
    assert event.loan is not None and event.activity is None
    assert event.loan.product is Product.CASH_LOAN and event.loan.type is LoanEventType.DISBURSEMENT
    text = repr(event) + repr(to_avro(event))
    assert "850101" not in text and "8501011234" not in text and "u-48213" not in text
    act = to_exchange_event("trips", ACTIVITY_EVENT, ACTIVITY, PSEUDO, NOW_MS, NOW_MS)
    assert act.activity is not None and act.activity.kind is ActivityKind.TRAVEL_BOOKING
    same_person = to_exchange_event(
        "x", ACTIVITY_EVENT, {**ACTIVITY, "national_id": "ab123456c"}, PSEUDO, NOW_MS, NOW_MS
    )
    assert same_person.borrower_id == act.borrower_id


def test_invalid_event_error_becomes_a_decode_error_with_origin() -> None:
    with pytest.raises(InvalidEventError) as err:
        validate_event(LOAN_EVENT, {**LOAN, "currency": "XYZ"}, NOW_MS)
    decode = err.value.to_decode_error(b"raw", topic="ingest.p.loans", partition=1, offset=9)
    assert (decode.reason, decode.raw, decode.topic, decode.partition, decode.offset) == (
        "UNKNOWN_CURRENCY",
        b"raw",
        "ingest.p.loans",
        1,
        9,
    )
    assert err.value.field == "currency"


@pytest.mark.parametrize("source", [(LOAN_EVENT, LOAN), (ACTIVITY_EVENT, ACTIVITY)])
def test_exchange_event_avro_round_trip(source: tuple[str, dict[str, Any]]) -> None:
    event = to_exchange_event("p1", source[0], source[1], PSEUDO, NOW_MS, NOW_MS + 1)
    codec = SingleObjectCodec()
    _, datum = codec.decode(codec.encode(EXCHANGE_EVENT, to_avro(event)), {EXCHANGE_EVENT})
    assert from_avro(datum) == event
    assert from_avro(to_avro(event)) == event


ID_TEXT = st.text(alphabet=string.ascii_letters + string.digits + "-. ", min_size=8, max_size=24)
PERSONAL = ID_TEXT.filter(lambda s: any(c.isdigit() for c in s) and any(c.isalpha() for c in s))
MUTATIONS: list[Callable[[str], dict[str, Any]]] = [
    lambda pii: {},
    lambda pii: {"currency": pii},
    lambda pii: {"product": pii},
    lambda pii: {"type": pii},
    lambda pii: {"loan_id": pii * 20},  # too long: must be refused without echo
    lambda pii: {"lender": ""},
    lambda pii: {"event_id": pii, "type": "CORRECTION", "corrects_event_id": pii},
    lambda pii: {"amount": Decimal("-1.00")},
    lambda pii: {"occurred_at": NOW + timedelta(days=3)},
    lambda pii: {"occurred_at": NOW - timedelta(days=4000)},
    lambda pii: {"days_past_due": -4},
    lambda pii: {"national_id": pii + "!!"},
    lambda pii: {"national_id": pii * 3},
    lambda pii: {"user_key": pii * 20},
]


@given(national_id=PERSONAL, user_key=PERSONAL, mutation=st.sampled_from(MUTATIONS))
def test_no_message_or_event_contains_the_input_identifiers(
    national_id: str, user_key: str, mutation: Callable[[str], dict[str, Any]]
) -> None:
    datum = {**LOAN, "national_id": national_id, "user_key": user_key, **mutation(national_id)}
    try:
        event: ExchangeEvent = to_exchange_event("p", LOAN_EVENT, datum, PSEUDO, NOW_MS, NOW_MS)
    except InvalidEventError as err:
        for text in (str(err), err.message, repr(err)):
            assert national_id not in text and user_key not in text
            assert national_id.strip() not in text
        return
    shown = repr(event) + repr(to_avro(event))
    assert national_id not in shown and user_key not in shown


@pytest.mark.parametrize(
    ("change", "schema"),
    [
        ({"amount": Decimal("10000000000000000.00")}, LOAN_EVENT),
        ({"principal_outstanding": Decimal("1" * 40 + ".00")}, LOAN_EVENT),
        ({"amount": Decimal("1E+20")}, ACTIVITY_EVENT),
    ],
)
def test_amounts_beyond_the_schemas_decimal_18_2_are_invalid(
    change: dict[str, Any], schema: str
) -> None:
    # Avro carries any number of digits on the wire; past decimal(18, 2) the exchange's
    # own encoders (and, past 28 digits, the profiles' arithmetic) fail on the value.
    base = LOAN if schema == LOAN_EVENT else ACTIVITY
    assert reason({**base, **change}, schema) == "INVALID_FIELD"
    biggest = {k: Decimal("9999999999999999.99") for k in change}
    validate_event(schema, {**base, **biggest}, NOW_MS)  # the largest value that fits
    assert reason({**base, **{k: -v for k, v in change.items()}}, schema) == "NEGATIVE_AMOUNT"

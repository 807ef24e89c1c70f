"""Pure ingress logic: every record is either accepted once or refused with its bytes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.domain.privacy import Pseudonymizer
from streams.domain.validation import DEFAULT_LIMITS, from_avro
from streams.errors import CreditstreamError
from streams.runtime.guard import RatioExceededError
from streams.runtime.registry import codec_for
from streams.stages.ingress.dedup import Dedup
from streams.stages.ingress.process import (
    REJECT_COPY_MAX,
    Accepted,
    IngressProcessor,
    RawRecord,
    Refused,
    reject_guard,
)
from streams.wire.schemas import ACTIVITY_EVENT, EXCHANGE_EVENT, LOAN_EVENT

CODEC = codec_for(None)
KEY = "unit-test-key-0123456789abcdef"
NOW = int(datetime(2026, 11, 1, tzinfo=UTC).timestamp() * 1000)


def processor() -> IngressProcessor:
    return IngressProcessor(CODEC, Pseudonymizer({1: KEY}, 1), DEFAULT_LIMITS, Dedup(10_000, 4))


def loan(event_id: str = "e1", national_id: str = "AB123456", **over: Any) -> dict[str, Any]:
    datum: dict[str, Any] = {
        "event_id": event_id,
        "occurred_at": datetime.fromtimestamp(NOW / 1000, UTC) - timedelta(days=1),
        "user_key": "u-7",
        "national_id": national_id,
        "loan_id": "L-1",
        "lender": "Lender Oy",
        "product": "BNPL",
        "type": "APPLICATION",
        "amount": Decimal("10.00"),
        "currency": "EUR",
        "principal_outstanding": Decimal("0.00"),
        "days_past_due": 0,
        "due_date": None,
        "term_months": None,
        "corrects_event_id": None,
    }
    return datum | over


def rec(value: bytes | None, topic: str = "ingest.acme.loans", offset: int = 0) -> RawRecord:
    return RawRecord(topic, 1, offset, value, NOW - 5)


def test_accepts_a_valid_loan_and_drops_the_national_id() -> None:
    p = processor()
    out = p.process(rec(CODEC.encode(LOAN_EVENT, loan())), NOW)
    assert isinstance(out, Accepted)
    assert (out.platform, out.kind, out.event_type, out.event_id) == (
        "acme",
        "loans",
        "APPLICATION",
        "e1",
    )
    event = from_avro(CODEC.decode(out.value, {EXCHANGE_EVENT})[1])
    assert event.borrower_id == Pseudonymizer({1: KEY}, 1).borrower_id("AB123456")
    assert out.key == event.borrower_id.encode()
    assert event.ingested_at_ms == NOW - 5
    assert b"AB123456" not in out.value and b"u-7" not in out.value


@pytest.mark.parametrize(
    ("value", "topic", "reason"),
    [
        (b"", "ingest.acme.loans", "NOT_AVRO"),
        (None, "ingest.acme.loans", "NOT_AVRO"),
        (b"\x7fgarbage", "ingest.acme.loans", "NOT_AVRO"),
        (b"\x00\x00\x00\x00\x07xyz", "ingest.acme.loans", "UNKNOWN_SCHEMA"),
        (b"\xc3\x01" + b"\x00" * 8 + b"x", "ingest.acme.loans", "UNKNOWN_SCHEMA"),
        (CODEC.encode(LOAN_EVENT, loan())[:-3], "ingest.acme.loans", "TRUNCATED"),
        (CODEC.encode(LOAN_EVENT, loan()), "ingest.acme.activity", "WRONG_SCHEMA"),
        (
            CODEC.encode(LOAN_EVENT, loan(amount=Decimal("-1"))),
            "ingest.acme.loans",
            "NEGATIVE_AMOUNT",
        ),
        (CODEC.encode(LOAN_EVENT, loan(currency="XXX")), "ingest.acme.loans", "UNKNOWN_CURRENCY"),
        (b"\xc3\x01" + b"x" * 20_000, "ingest.acme.loans", "OVERSIZE"),
    ],
)
def test_refuses_with_reason_and_original_bytes(
    value: bytes | None, topic: str, reason: str
) -> None:
    out = processor().process(rec(value, topic, offset=42), NOW)
    assert isinstance(out, Refused)
    assert out.reject.reason == reason
    assert out.reject.original == (value or b"")
    assert (out.reject.source_topic, out.reject.source_partition, out.reject.source_offset) == (
        topic,
        1,
        42,
    )
    assert out.platform == "acme"


def test_duplicates_are_refused_within_a_batch_and_after_commit_not_after_abort() -> None:
    p = processor()
    raw = CODEC.encode(LOAN_EVENT, loan("dup"))
    assert isinstance(p.process(rec(raw), NOW), Accepted)
    second = p.process(rec(raw, offset=1), NOW)
    assert isinstance(second, Refused) and second.reject.reason == "DUPLICATE_EVENT"
    p.dedup.abort()  # the batch's transaction failed: nothing was accepted after all
    accepted = p.process(rec(raw), NOW)
    assert isinstance(accepted, Accepted)
    p.dedup.commit([(("ingest.acme.loans", 1), accepted.event_id)], {("ingest.acme.loans", 1): 7})
    p.dedup.abort()  # a later batch failing does not undo the committed one
    assert isinstance(p.process(rec(raw, offset=2), NOW), Refused)
    # The same event_id on another platform's topic is a different event.
    assert isinstance(p.process(rec(raw, topic="ingest.other.loans"), NOW), Accepted)


def test_a_non_ingest_topic_is_a_wiring_error_not_a_reject() -> None:
    with pytest.raises(CreditstreamError, match="non-ingest topic"):
        processor().process(rec(b"x", topic="exchange.events"), NOW)


def test_activity_events_are_accepted_on_activity_topics() -> None:
    datum = {
        "event_id": "a1",
        "occurred_at": datetime.fromtimestamp(NOW / 1000, UTC) - timedelta(hours=2),
        "user_key": "u-9",
        "national_id": "ZZ998877",
        "kind": "TRAVEL_BOOKING",
        "amount": Decimal("420.00"),
        "currency": "EUR",
        "category": "flights",
    }
    out = processor().process(rec(CODEC.encode(ACTIVITY_EVENT, datum), "ingest.ride.activity"), NOW)
    assert isinstance(out, Accepted)
    assert (out.platform, out.kind, out.event_type) == ("ride", "activity", "TRAVEL_BOOKING")


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_never_raise_and_keep_their_bytes(blob: bytes) -> None:
    out = processor().process(rec(blob), NOW)
    assert isinstance(out, Refused)
    assert out.reject.original == blob
    assert out.reject.message  # a reason a human can read


def test_a_reject_never_outgrows_one_kafka_message() -> None:
    # A compressed multi-MB record gets onto an ingest topic under the broker's default
    # limit; its reject, written uncompressed with key and headers, would not fit.
    huge = CODEC.encode(LOAN_EVENT, loan(lender="x" * 100))[:10] + bytes(range(256)) * 12_288
    out = processor().process(rec(huge), NOW)
    assert isinstance(out, Refused) and out.reject.reason == "OVERSIZE"
    assert out.reject.original == huge[:REJECT_COPY_MAX]
    assert f"record is {len(huge)} bytes" in out.reject.message
    assert f"first {REJECT_COPY_MAX} of {len(huge)} bytes" in out.reject.message
    assert REJECT_COPY_MAX + 2048 < 1_000_000  # librdkafka's default message.max.bytes
    fits = b"\xc3\x01" + b"x" * (REJECT_COPY_MAX - 2)  # as large as is kept whole
    out = processor().process(rec(fits), NOW)
    assert isinstance(out, Refused) and out.reject.original == fits
    assert "keeps" not in out.reject.message


@settings(max_examples=100, deadline=None)
@given(st.lists(st.booleans(), min_size=1, max_size=60))
def test_guard_trips_exactly_when_the_window_is_over_the_ratio(outcomes: list[bool]) -> None:
    guard = reject_guard(ratio=0.5, window=10)
    for i, rejected in enumerate(outcomes):
        guard.observe(rejected)
        window = outcomes[max(0, i - 9) : i + 1]
        should_trip = len(window) == 10 and sum(window) >= 5
        if should_trip:
            with pytest.raises(RatioExceededError, match="of the last 10"):
                guard.check()
        else:
            guard.check()

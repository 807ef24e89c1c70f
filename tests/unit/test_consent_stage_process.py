"""The consent stage's per-record logic: forward pseudonymized, or refuse on the feed."""

from __future__ import annotations

import json
from typing import Any

import pytest

from streams.domain.consent import DEFAULT_LIMITS, ConsentReason
from streams.domain.delivery import SUBSCRIPTION_REJECT
from streams.domain.privacy import Pseudonymizer
from streams.runtime.registry import codec_for
from streams.stages.consents.process import ConsentProcessor, Forward, Refusal
from streams.wire.avrojson import json_to_datum
from streams.wire.consents import Action, Purpose, decode_request, encode_request
from streams.wire.schemas import FEED_RECORD, LOAN_EVENT, SCHEMA_DIR, SUBSCRIPTION

CODEC = codec_for(None)
PSEUDO = Pseudonymizer({1: "unit-test-key-0123456789abcdef"}, 1)
NOW = 1_780_000_000_000
NID = "850101-1234"
TOPIC = "banks.bank-a.subscriptions"
PROC = ConsentProcessor(CODEC, PSEUDO, DEFAULT_LIMITS, 4096)


def request(**over: Any) -> bytes:
    datum = {
        "national_id": NID,
        "customer_ref": "c-1",
        "consent_ref": "consent-1",
        "purpose": "CREDIT_APPLICATION",
        "expires_at": NOW + 86_400_000,
        "action": "SUBSCRIBE",
        "requested_at": NOW,
    } | over
    return CODEC.encode(SUBSCRIPTION, datum)


def test_an_accepted_request_is_forwarded_by_borrower_id_without_the_national_id() -> None:
    out = PROC.handle(TOPIC, 0, 7, request(), NOW)
    assert isinstance(out, Forward)
    bid = PSEUDO.borrower_id(NID)
    assert out.key == bid.encode() and out.bank == "bank-a"
    assert b"850101" not in out.value and b"1234" not in out.value
    back = decode_request(out.value)
    assert back == out.request
    assert (back.bank, back.borrower_id, back.action, back.purpose) == (
        "bank-a",
        bid,
        Action.SUBSCRIBE,
        Purpose.CREDIT_APPLICATION,
    )
    assert back.expires_at_ms == NOW + 86_400_000


def test_the_bank_comes_from_the_topic_only() -> None:
    out = PROC.handle("banks.other.subscriptions", 0, 0, request(), NOW)
    assert isinstance(out, Forward) and out.request.bank == "other"
    with pytest.raises(ValueError):
        PROC.handle("banks.other.feed", 0, 0, request(), NOW)


@pytest.mark.parametrize(
    ("value", "reason", "key"),
    [
        (b"not avro at all", ConsentReason.NOT_AVRO, f"{TOPIC}:1:9"),
        (b"\x00" * 5000, ConsentReason.OVERSIZE, f"{TOPIC}:1:9"),
        (request(national_id="--"), ConsentReason.INVALID_NATIONAL_ID, "c-1"),
        (request(expires_at=NOW - 1), ConsentReason.EXPIRED, "c-1"),
        (request(customer_ref=NID), ConsentReason.INVALID_CUSTOMER_REF, f"{TOPIC}:1:9"),
    ],
)
def test_refusals_are_answered_on_the_banks_feed_without_audit(
    value: bytes, reason: ConsentReason, key: str
) -> None:
    out = PROC.handle(TOPIC, 1, 9, value, NOW)
    assert isinstance(out, Refusal) and out.reason is reason
    d = out.delivery
    assert d.topic == "banks.bank-a.feed" and d.key == key and d.audit is None
    assert d.record["kind"] == SUBSCRIPTION_REJECT
    assert str(d.record["message"]).startswith(str(reason))
    encoded = CODEC.encode(FEED_RECORD, d.record)
    assert NID.encode() not in encoded and PSEUDO.borrower_id(NID).encode() not in encoded


def test_a_loan_event_on_a_subscriptions_topic_is_the_wrong_schema() -> None:
    example = SCHEMA_DIR / "examples" / "LoanEvent" / "disbursement_cash_loan.json"
    raw = CODEC.encode(LOAN_EVENT, json_to_datum(LOAN_EVENT, json.loads(example.read_text())))
    out = PROC.handle(TOPIC, 0, 0, raw, NOW)
    assert isinstance(out, Refusal) and out.reason is ConsentReason.WRONG_SCHEMA


def test_request_encoding_round_trips_a_revoke_and_refuses_other_formats() -> None:
    out = PROC.handle(TOPIC, 0, 0, request(action="REVOKE"), NOW)
    assert isinstance(out, Forward) and out.request.action is Action.REVOKE
    assert out.request.purpose is None
    assert decode_request(encode_request(out.request)) == out.request
    for bad in (b"{}", b"[1]", b'{"f": 2}', b"\xff", b'{"f": 1, "bank": "x"}'):
        with pytest.raises(ValueError):
            decode_request(bad)


def test_every_request_is_counted_by_bank_and_outcome() -> None:
    from prometheus_client import CollectorRegistry

    from streams.runtime.metrics import Metrics
    from streams.stages.consents.service import metrics_hook

    registry = CollectorRegistry()
    hook = metrics_hook(Metrics(registry))
    outcomes = [
        PROC.handle(TOPIC, 0, 1, request(), NOW),
        PROC.handle(TOPIC, 0, 2, request(customer_ref="c-2"), NOW),
        PROC.handle(TOPIC, 0, 3, b"not a request", NOW),
    ]
    refused = outcomes[2]
    assert isinstance(refused, Refusal)
    hook(outcomes)

    def count(outcome: str) -> float | None:
        labels = {"bank": "bank-a", "outcome": outcome}
        return registry.get_sample_value("creditstream_consent_requests_total", labels)

    assert count("accepted") == 2
    assert count(str(refused.reason)) == 1

"""Consent requests: validation, pseudonymization, the per-borrower subscription set."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.domain.consent import (
    EMPTY,
    ConsentReason,
    RefusedRequestError,
    Subscription,
    Subscriptions,
    active,
    apply_request,
    drop_expired,
    from_bytes,
    next_expiry,
    next_expiry_of,
    parse_request,
    refusal_from_decode_error,
    refused,
    to_bytes,
)
from streams.domain.privacy import Pseudonymizer
from streams.errors import DecodeError
from streams.runtime.registry import codec_for
from streams.wire.avrojson import json_to_datum
from streams.wire.consents import Action, ConsentRequest, Purpose
from streams.wire.schemas import LOAN_EVENT, SUBSCRIPTION

EXAMPLES = Path(__file__).resolve().parents[2] / "schemas" / "examples" / "Subscription"
PSEUDO = Pseudonymizer({1: b"k" * 32})
NOW = 1_788_220_800_000  # 2026-09-01T00:00Z, the examples README's fixed "now"
DAY = 86_400_000
NATIONAL = "850101-1234"
SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def request_datum(**over: Any) -> dict[str, Any]:
    base = {
        "national_id": NATIONAL,
        "customer_ref": "nordbank-c-100234",
        "consent_ref": "CONS-2026-0007781",
        "purpose": "CREDIT_APPLICATION",
        "expires_at": NOW + 30 * DAY,
        "action": "SUBSCRIBE",
        "requested_at": NOW - 1000,
    }
    return base | over


def parse(**over: Any) -> ConsentRequest:
    return parse_request("nordbank", request_datum(**over), PSEUDO, NOW)


def test_the_subscribe_example_parses_and_the_national_id_is_gone() -> None:
    raw = json.loads((EXAMPLES / "subscribe_credit_application.json").read_text())
    datum = json_to_datum(SUBSCRIPTION, raw)
    req = parse_request("nordbank", datum, PSEUDO, NOW)
    assert req.bank == "nordbank"
    assert req.borrower_id == PSEUDO.borrower_id("8501011234")
    assert req.key_version == 1
    assert req.action is Action.SUBSCRIBE
    assert req.purpose is Purpose.CREDIT_APPLICATION
    assert req.expires_at_ms > NOW
    assert "8501011234" not in repr(req)
    assert NATIONAL not in repr(req)


def test_avro_decoded_datetimes_are_accepted() -> None:
    codec = codec_for(None)
    _name, datum = codec.decode(codec.encode(SUBSCRIPTION, request_datum()))
    assert parse_request("nordbank", datum, PSEUDO, NOW) == parse()


def test_revoke_needs_neither_consent_ref_purpose_nor_future_expiry() -> None:
    req = parse(action="REVOKE", consent_ref="", purpose="nonsense", expires_at=0)
    assert req.action is Action.REVOKE
    assert req.purpose is None


@pytest.mark.parametrize(
    ("over", "reason"),
    [
        ({"national_id": "12"}, ConsentReason.INVALID_NATIONAL_ID),
        ({"national_id": None}, ConsentReason.INVALID_NATIONAL_ID),
        ({"customer_ref": ""}, ConsentReason.INVALID_CUSTOMER_REF),
        ({"customer_ref": "x" * 129}, ConsentReason.INVALID_CUSTOMER_REF),
        ({"customer_ref": "c\n1"}, ConsentReason.INVALID_CUSTOMER_REF),
        ({"customer_ref": "850101 1234"}, ConsentReason.INVALID_CUSTOMER_REF),
        ({"consent_ref": "  "}, ConsentReason.MISSING_CONSENT_REF),
        ({"consent_ref": "8501011234"}, ConsentReason.INVALID_CONSENT_REF),
        ({"consent_ref": "y" * 200}, ConsentReason.INVALID_CONSENT_REF),
        ({"purpose": "MARKETING"}, ConsentReason.UNKNOWN_PURPOSE),
        ({"action": "subscribe"}, ConsentReason.UNKNOWN_ACTION),
        ({"expires_at": NOW}, ConsentReason.EXPIRED),
        ({"expires_at": "tomorrow"}, ConsentReason.INVALID_TIMESTAMP),
        ({"requested_at": NOW + DAY}, ConsentReason.FUTURE_REQUEST),
    ],
)
def test_refusals_have_stable_reasons_and_never_echo_identifiers(
    over: dict[str, Any], reason: ConsentReason
) -> None:
    with pytest.raises(RefusedRequestError) as info:
        parse(**over)
    exc = info.value
    assert exc.reason is reason
    datum = request_datum(**over)
    for name in ("national_id", "customer_ref", "consent_ref"):
        value = datum[name]
        if isinstance(value, str) and len(value.strip()) >= 4:
            assert value not in exc.message
            assert value not in str(exc)
    assert "8501011234" not in str(exc)


def test_a_refusal_is_keyed_by_a_usable_customer_ref_else_by_the_fallback() -> None:
    with pytest.raises(RefusedRequestError) as bad_id:
        parse(national_id="1")
    answer = refused("nordbank", "banks.nordbank.subscriptions:0:7", bad_id.value)
    assert (answer.customer_ref, answer.accepted) == ("nordbank-c-100234", False)
    with pytest.raises(RefusedRequestError) as id_as_ref:
        parse(customer_ref=NATIONAL)
    answer = refused("nordbank", "banks.nordbank.subscriptions:0:8", id_as_ref.value)
    assert answer.customer_ref == "banks.nordbank.subscriptions:0:8"


def test_decode_errors_map_to_consent_reasons() -> None:
    codec = codec_for(None)
    for raw, reason in [(b"garbage", ConsentReason.NOT_AVRO), (b"\xc3\x01" + b"\0" * 9, None)]:
        with pytest.raises(DecodeError) as info:
            codec.decode(raw, {SUBSCRIPTION})
        refusal = refusal_from_decode_error(info.value)
        assert refusal.reason in set(ConsentReason)
        if reason is not None:
            assert refusal.reason is reason
    with pytest.raises(DecodeError) as wrong:
        codec.decode(codec.encode(SUBSCRIPTION, request_datum()), {LOAN_EVENT})
    assert refusal_from_decode_error(wrong.value).reason is ConsentReason.WRONG_SCHEMA


def test_subscribe_then_revoke_and_revoke_of_unknown_is_rejected() -> None:
    subs, ack = apply_request(EMPTY, parse(), NOW)
    assert ack.accepted and ack.subscription is not None
    assert ack.subscription.granted_at_ms == NOW
    assert active(subs, NOW) == [ack.subscription]
    _same, rej = apply_request(subs, parse(action="REVOKE", customer_ref="other"), NOW)
    assert not rej.accepted and rej.reason is ConsentReason.UNKNOWN_SUBSCRIPTION
    assert _same == subs
    gone, ok = apply_request(subs, parse(action="REVOKE"), NOW + 1)
    assert ok.accepted and ok.replaced == ack.subscription
    assert gone == {} and active(gone, NOW + 1) == []


def test_a_new_customer_ref_of_the_same_bank_replaces_the_old_one() -> None:
    subs, _ = apply_request(EMPTY, parse(customer_ref="c-1"), NOW)
    subs, ack = apply_request(subs, parse(customer_ref="c-2"), NOW + 1)
    assert [s.customer_ref for s in active(subs, NOW + 1)] == ["c-2"]
    assert ack.replaced is not None and ack.replaced.customer_ref == "c-1"


def test_expiry_is_exclusive_and_pruned() -> None:
    expires = NOW + DAY
    subs, _ = apply_request(EMPTY, parse(expires_at=expires), NOW)
    other = parse_request("southbank", request_datum(expires_at=expires + DAY), PSEUDO, NOW)
    subs, _ = apply_request(subs, other, NOW)
    assert next_expiry(subs) == expires
    assert [s.bank for s in active(subs, expires - 1)] == ["nordbank", "southbank"]
    assert [s.bank for s in active(subs, expires)] == ["southbank"]
    kept, expired = drop_expired(subs, expires)
    assert [s.bank for s in expired] == ["nordbank"]
    assert list(kept) == ["southbank"]
    assert drop_expired(kept, expires)[0] is kept


def test_a_request_processed_after_its_expiry_is_rejected() -> None:
    req = parse(expires_at=NOW + 10)
    subs, answer = apply_request(EMPTY, req, NOW + 10)
    assert subs == {} and answer.reason is ConsentReason.EXPIRED


# -- properties ---------------------------------------------------------------------

BANKS = ["alpha", "beta", "gamma"]
step = st.tuples(
    st.sampled_from(BANKS),
    st.sampled_from(["c1", "c2", "c3"]),
    st.sampled_from([Action.SUBSCRIBE, Action.REVOKE]),
    st.integers(1, 50),  # expiry, in steps after the request
    st.sampled_from(list(Purpose)),
)


def run(steps: list[tuple[str, str, Action, int, Purpose]]) -> tuple[Subscriptions, list[Any]]:
    subs: Subscriptions = EMPTY
    answers = []
    for t, (bank, cref, action, ttl, purpose) in enumerate(steps):
        req = ConsentRequest(bank, "b" * 64, 1, cref, action, f"K{t}", purpose, t + ttl, t)
        subs, answer = apply_request(subs, req, t)
        answers.append(answer)
        subs = from_bytes(to_bytes(subs))  # state survives the per-borrower store
    return subs, answers


@SETTINGS
@given(st.lists(step, max_size=30))
def test_final_state_follows_each_banks_last_request(
    steps: list[tuple[str, str, Action, int, Purpose]],
) -> None:
    subs, answers = run(steps)
    for bank in BANKS:
        mine = [(i, s) for i, s in enumerate(steps) if s[0] == bank]
        if not mine:
            assert bank not in subs
            continue
        i, (_b, cref, action, ttl, purpose) = mine[-1]
        if action is Action.SUBSCRIBE:
            assert subs[bank] == Subscription(bank, cref, f"K{i}", purpose, i + ttl, i)
        else:
            before, _ = run(steps[:i])
            held = bank in before and before[bank].customer_ref == cref
            assert answers[i].accepted == held
            assert bank not in subs if held else subs.get(bank) == before.get(bank)


@SETTINGS
@given(st.lists(step, max_size=30), st.integers(0, 90))
def test_active_never_returns_expired_or_revoked(
    steps: list[tuple[str, str, Action, int, Purpose]], now: int
) -> None:
    subs, _ = run(steps)
    revoked_last = {s[0] for s in steps[-1:] if s[2] is Action.REVOKE}
    for sub in active(subs, now):
        assert now < sub.expires_at_ms
        assert sub.bank not in revoked_last or steps[-1][1] != sub.customer_ref
    assert len({s.bank for s in active(subs, now)}) == len(active(subs, now))


@SETTINGS
@given(st.lists(step, max_size=30))
def test_bytes_round_trip(steps: list[tuple[str, str, Action, int, Purpose]]) -> None:
    subs, _ = run(steps)
    assert from_bytes(to_bytes(subs)) == subs
    assert next_expiry_of(to_bytes(subs)) == next_expiry(subs)  # what recovery indexes
    assert len(to_bytes(subs)) < 40 + 60 * len(subs)


def test_unknown_format_is_refused() -> None:
    for read in (from_bytes, next_expiry_of):
        with pytest.raises(ValueError, match="format"):
            read(b"\x09whatever")

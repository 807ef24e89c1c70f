"""Fan-out: one feed record per active subscription, never a foreign ref or borrower_id."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.domain.audit import ChainHead, verify
from streams.domain.consent import EMPTY, Answer, ConsentReason, Subscription, active, apply_request
from streams.domain.delivery import (
    ALERT,
    NO_DATA_YET,
    PROFILE_UPDATE,
    SUBSCRIPTION_ACK,
    SUBSCRIPTION_REJECT,
    FeedView,
    PrivacyLeakError,
    answer_deliveries,
    answer_record,
    bank_view,
    deliveries,
)
from streams.domain.profile.alerts import Alert, AlertKind
from streams.domain.profile.fold import apply
from streams.domain.profile.output import profile_to_avro, profile_to_dict
from streams.domain.profile.state import new_state
from streams.domain.profile.view import snapshot, view
from streams.domain.rights import Mark
from streams.runtime.registry import codec_for
from streams.stages.borrower.deliverybytes import DeliveryEncoder
from streams.stages.borrower.records import OutputEncoder
from streams.wire.consents import Action, ConsentRequest, Purpose
from streams.wire.events import LoanEventType
from streams.wire.schemas import AUDIT_RECORD, BORROWER_PROFILE, FEED_RECORD, load_schemas
from tests.unit.profile_factories import BORROWER, DAY, T0, event_sets, loan_event
from tests.unit.test_bank_view import views_of

CODEC = codec_for(None)
NOW = T0 + DAY
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def profile_and_alerts() -> tuple[Any, FeedView, list[Alert]]:
    state = new_state(BORROWER)
    state, _ = apply(state, loan_event("e1", T0, LoanEventType.APPLICATION))
    state, alerts = apply(state, loan_event("e2", T0 + 1000, LoanEventType.DISBURSEMENT))
    return snapshot(state, NOW), FeedView(view(state, NOW)), list(alerts)


PROFILE, FEED_VIEW, ALERTS = profile_and_alerts()
VIEW = bank_view(PROFILE)
#: The stage's encoder, so that records with a FeedView encode as banks receive them.
ENCODER = DeliveryEncoder(CODEC, OutputEncoder(CODEC))


def encode(record: dict[str, Any]) -> bytes:
    return ENCODER.feed(record)


def sub(bank: str, cref: str, expires: int = NOW + DAY) -> Subscription:
    return Subscription(bank, cref, f"consent-{bank}", Purpose.ACCOUNT_REVIEW, expires, T0)


def test_bank_view_is_the_profile_without_borrower_id_from_either_form() -> None:
    assert json.loads(VIEW) == profile_to_dict(PROFILE)
    assert FEED_VIEW.json() == VIEW  # the feed's profile, as JSON
    assert bank_view(profile_to_avro(PROFILE)) == VIEW  # what ProfileUpdate.profile decodes to
    _name, decoded = CODEC.decode(
        CODEC.encode("io.creditstream.BorrowerProfile", profile_to_avro(PROFILE))
    )
    assert bank_view(decoded) == VIEW
    assert BORROWER not in VIEW and "borrower_id" not in VIEW
    with pytest.raises(PrivacyLeakError):
        bank_view(profile_to_avro(PROFILE) | {"borrower_id": BORROWER})


def test_one_record_per_active_subscription_keyed_by_its_own_ref() -> None:
    subs = {
        "alpha": sub("alpha", "A-1"),
        "beta": sub("beta", "B-1"),
        "gamma": sub("gamma", "G-1", expires=NOW),  # expired exactly now: no delivery
    }
    out = deliveries(BORROWER, FEED_VIEW, 7, [], subs, NOW, NOW - 50, material=True)
    assert [(d.bank, d.topic, d.key) for d in out] == [
        ("alpha", "banks.alpha.feed", "A-1"),
        ("beta", "banks.beta.feed", "B-1"),
    ]
    for d in out:
        assert d.record["kind"] == PROFILE_UPDATE
        assert d.record["profile_version"] == 7
        assert d.record["ingested_at"] == NOW - 50
        assert d.record["produced_at"] == NOW
        assert json.loads(d.record["profile"].json()) == profile_to_dict(PROFILE)
        assert CODEC.decode(encode(d.record))[0] == FEED_RECORD
        assert d.audit == {
            "bank": d.bank,
            "borrower_id": BORROWER,
            "customer_ref": d.key,
            "profile_version": 7,
            "purpose": "ACCOUNT_REVIEW",
            "consent_ref": f"consent-{d.bank}",
            "delivered_at": NOW,
            "feed_topic": d.topic,
        }


def test_immaterial_changes_are_not_sent_but_alerts_always_are() -> None:
    subs = {"alpha": sub("alpha", "A-1")}
    assert [a.kind for a in ALERTS] == [AlertKind.NEW_LOAN]
    assert deliveries(BORROWER, FEED_VIEW, 8, [], subs, NOW, NOW, material=False) == []
    (d,) = deliveries(BORROWER, FEED_VIEW, 8, ALERTS, subs, NOW, NOW, material=False)
    assert d.record["kind"] == ALERT
    assert d.record["alerts"] == [{"kind": str(a.kind), "reason": a.reason} for a in ALERTS]
    assert d.audit is not None
    as_dicts = [{"kind": "payoff", "reason": "loan paid off"}]
    (d2,) = deliveries(BORROWER, FEED_VIEW, 9, as_dicts, subs, NOW, NOW, material=False)
    assert d2.record["alerts"] == as_dicts


def test_a_borrower_id_smuggled_into_an_alert_or_view_is_refused() -> None:
    subs = {"alpha": sub("alpha", "A-1")}
    bad = [Alert(AlertKind.NEW_LOAN, f"for {BORROWER}", NOW)]
    with pytest.raises(PrivacyLeakError):
        deliveries(BORROWER, FEED_VIEW, 1, bad, subs, NOW, NOW)
    smuggled = FeedView(FEED_VIEW.view, (Mark("d-1", BORROWER, "OPEN", NOW),))
    with pytest.raises(PrivacyLeakError):
        deliveries(BORROWER, smuggled, 1, [], subs, NOW, NOW)
    as_platform = (*FEED_VIEW.view[:5], (f"p-{BORROWER}",), *FEED_VIEW.view[6:])
    with pytest.raises(PrivacyLeakError):
        deliveries(BORROWER, FeedView(as_platform), 1, [], subs, NOW, NOW)


def _texts(node: Any) -> Iterator[str]:
    """Every string in a JSON document, keys included."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield k
            yield from _texts(v)
    elif isinstance(node, list):
        for v in node:
            yield from _texts(v)
    elif isinstance(node, str):
        yield node


def _free_text(text: str) -> bool:
    """A string of the profile JSON that is not a field name, a window label, a decimal
    or a time: what only the data can put there."""
    label = text in FIELD_NAMES or re.fullmatch(r"\d+[dm]", text)
    number = re.fullmatch(r"-?\d+(\.\d+)?", text)
    return not (label or number or re.fullmatch(r"\d{4}-\d\d-\d\dT[\d:.]+Z", text))


FIELD_NAMES = {f["name"] for f in load_schemas().raw(BORROWER_PROFILE)["fields"]} | {
    "disputed", "dispute_id", "platform", "status", "since",
}  # fmt: skip


@SETTINGS
@given(event_sets(), st.lists(st.tuples(st.text(max_size=12), st.text(max_size=12)), max_size=2))
def test_the_privacy_check_sees_every_string_the_json_would_carry(
    events: list[Any], marked: list[tuple[str, str]]
) -> None:
    marks = tuple(Mark(d, p, "OPEN", NOW) for d, p in marked)
    for _bid, v in views_of(events):
        fv = FeedView(v, marks)
        assert {t for t in _texts(json.loads(fv.json())) if _free_text(t)} <= set(fv.strings())


def request(bank: str, cref: str, action: Action = Action.SUBSCRIBE) -> ConsentRequest:
    return ConsentRequest(
        bank, BORROWER, 1, cref, action, "K-1", Purpose.CREDIT_APPLICATION, NOW + DAY, NOW
    )


def test_an_accepted_subscription_gets_the_snapshot_audited_or_no_data_yet() -> None:
    _subs, ack = apply_request(EMPTY, request("alpha", "A-1"), NOW)
    (snap,) = answer_deliveries(ack, BORROWER, FEED_VIEW, 12, NOW)
    assert (snap.key, snap.record["kind"], snap.record["profile_version"]) == (
        "A-1",
        SUBSCRIPTION_ACK,
        12,
    )
    assert snap.record["profile"] == FEED_VIEW and snap.record["ingested_at"] is None
    assert snap.audit is not None and snap.audit["profile_version"] == 12
    (none,) = answer_deliveries(ack, BORROWER, None, 0, NOW)
    assert (none.record["kind"], none.record["profile_version"], none.audit) == (
        NO_DATA_YET,
        0,
        None,
    )
    for d in (snap, none):
        encode(d.record)


def test_revocation_acks_and_rejects_are_bare_and_unaudited() -> None:
    subs, _ = apply_request(EMPTY, request("alpha", "A-1"), NOW)
    _gone, revoked = apply_request(subs, request("alpha", "A-1", Action.REVOKE), NOW)
    (ack,) = answer_deliveries(revoked, BORROWER, FEED_VIEW, 12, NOW)
    assert ack.record["kind"] == SUBSCRIPTION_ACK and ack.record["profile"] is None
    assert ack.audit is None
    reject = Answer("alpha", "A-9", Action.REVOKE, False, ConsentReason.UNKNOWN_SUBSCRIPTION, "no")
    rec = answer_record(reject, NOW)
    assert rec.record["kind"] == SUBSCRIPTION_REJECT
    assert rec.record["message"].startswith("UNKNOWN_SUBSCRIPTION: ")
    assert (rec.key, rec.topic, rec.audit) == ("A-9", "banks.alpha.feed", None)
    CODEC.encode(FEED_RECORD, rec.record)


# -- properties ---------------------------------------------------------------------

BANKS = ["alpha", "beta", "gamma", "delta"]
subs_st = st.dictionaries(
    st.sampled_from(BANKS),
    st.tuples(st.integers(0, 999), st.integers(NOW - 10, NOW + 10)),
    max_size=4,
).map(lambda d: {b: sub(b, f"{b}-cust-{n:03d}", exp) for b, (n, exp) in d.items()})


@SETTINGS
@given(subs_st, st.integers(NOW - 12, NOW + 12), st.booleans(), st.booleans())
def test_deliveries_never_leak_and_match_active_subscriptions(
    subs: dict[str, Subscription], now: int, material: bool, with_alerts: bool
) -> None:
    alerts = ALERTS if with_alerts else []
    out = deliveries(BORROWER, FEED_VIEW, 3, alerts, subs, now, now, material=material)
    expected = active(subs, now) if (material or with_alerts) else []
    assert [(d.bank, d.key) for d in out] == [(s.bank, s.customer_ref) for s in expected]
    head = ChainHead()
    sealed: list[tuple[int, dict[str, Any]]] = []
    for d in out:
        assert now < subs[d.bank].expires_at_ms
        wire = json.dumps(d.record | {"profile": d.record["profile"].json()})
        assert BORROWER not in wire and "borrower_id" not in wire
        for other in subs.values():
            if other.bank != d.bank:
                assert other.customer_ref not in wire
                assert other.consent_ref not in wire
        assert d.audit is not None
        sealed.append((len(sealed), head.seal(d.audit)))
        CODEC.encode(AUDIT_RECORD, sealed[-1][1])
    assert verify(sealed) == []


def test_pure_modules_import_no_kafka_client() -> None:
    code = (
        "import sys, streams.domain.consent, streams.domain.delivery, streams.domain.audit, "
        "streams.domain.billing; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('confluent_kafka', 'faust', 'aiokafka')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"

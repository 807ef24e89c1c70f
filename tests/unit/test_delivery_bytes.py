"""Feed and audit records written by hand are the codec's bytes, or the codec writes them.

The borrower stage's :class:`DeliveryEncoder` must produce exactly what
``codec.encode`` produces for every datum the delivery rules can build (banks decode
with any Avro library), in either wire format; when the schemas no longer have the
layout it writes, it says so and falls back to the codec.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from streams.runtime.registry import codec_for
from streams.stages.borrower import deliverybytes
from streams.stages.borrower.deliverybytes import DeliveryEncoder
from streams.wire.schemas import AUDIT_RECORD, FEED_RECORD

CODEC = codec_for(None)
ENCODER = DeliveryEncoder(CODEC)
KINDS = ["PROFILE_UPDATE", "ALERT", "SUBSCRIPTION_ACK", "SUBSCRIPTION_REJECT", "NO_DATA_YET"]
PURPOSES = ["CREDIT_APPLICATION", "ACCOUNT_REVIEW", "COLLECTIONS", "FRAUD_PREVENTION"]
times = st.integers(0, 2**62)
text = st.text(max_size=80)


@st.composite
def feed_records(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "customer_ref": draw(text),
        "profile_version": draw(st.integers(0, 2**62)),
        "kind": draw(st.sampled_from(KINDS)),
        "produced_at": draw(times),
        "ingested_at": draw(st.none() | times),
        "profile": draw(st.none() | st.text(max_size=400)),
        "alerts": draw(
            st.lists(st.fixed_dictionaries({"kind": text, "reason": text}), max_size=70)
        ),
        "message": draw(st.none() | text),
    }


@st.composite
def audit_records(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "bank": draw(text),
        "borrower_id": draw(text),
        "customer_ref": draw(text),
        "profile_version": draw(st.integers(0, 2**62)),
        "purpose": draw(st.sampled_from(PURPOSES)),
        "consent_ref": draw(text),
        "delivered_at": draw(times),
        "feed_topic": draw(text),
        "prev_hash": draw(text),
        "hash": draw(text),
    }


def test_the_hand_written_path_runs_for_the_shipped_schemas() -> None:
    assert ENCODER.hand_written


@given(feed_records())
def test_feed_records_are_the_codec_bytes(record: dict[str, Any]) -> None:
    assert ENCODER.feed(record) == CODEC.encode(FEED_RECORD, record)


@given(audit_records())
def test_audit_records_are_the_codec_bytes(record: dict[str, Any]) -> None:
    assert ENCODER.audit(record) == CODEC.encode(AUDIT_RECORD, record)


def test_a_schema_of_another_layout_falls_back_to_the_codec(monkeypatch: Any) -> None:
    monkeypatch.setattr(deliverybytes, "FEED_LAYOUT", deliverybytes.FEED_LAYOUT[:-1])
    slow = DeliveryEncoder(CODEC)
    assert not slow.hand_written
    record = {
        "customer_ref": "r",
        "profile_version": 1,
        "kind": "ALERT",
        "produced_at": 5,
        "ingested_at": None,
        "profile": None,
        "alerts": [],
        "message": None,
    }
    assert slow.feed(record) == CODEC.encode(FEED_RECORD, record)

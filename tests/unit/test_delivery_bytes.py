"""Feed and audit records written by hand are the codec's bytes, or the codec writes them.

The borrower stage's :class:`DeliveryEncoder` must produce exactly what
``codec.encode`` produces for every datum the delivery rules can build (banks decode
with any Avro library), in either wire format; when the schemas no longer have the
layout it writes, it says so and falls back to the codec.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.domain.delivery import FeedView, bank_view, bank_view_of
from streams.domain.rights import Mark
from streams.domain.rights.model import STATUSES
from streams.runtime.registry import codec_for
from streams.sdk.subscriber import profile_of
from streams.stages.borrower.deliverybytes import DeliveryEncoder
from streams.stages.borrower.records import OutputEncoder
from streams.wire.schemas import AUDIT_RECORD, FEED_RECORD, SCHEMA_DIR, load_schemas
from tests.unit.profile_factories import T0, activity_event, event_sets
from tests.unit.test_bank_view import views_of

CODEC = codec_for(None)
PROFILES = OutputEncoder(CODEC)
ENCODER = DeliveryEncoder(CODEC, PROFILES)
KINDS = ["PROFILE_UPDATE", "ALERT", "SUBSCRIPTION_ACK", "SUBSCRIPTION_REJECT", "NO_DATA_YET"]
PURPOSES = ["CREDIT_APPLICATION", "ACCOUNT_REVIEW", "COLLECTIONS", "FRAUD_PREVENTION"]
times = st.integers(0, 2**62)
text = st.text(max_size=80)


marks = st.builds(Mark, text, text, st.sampled_from(STATUSES), times)


@st.composite
def feed_views(draw: st.DrawFn) -> FeedView | None:
    views = views_of(draw(event_sets()))
    if not views:
        return None
    _, v = draw(st.sampled_from(views))
    return FeedView(v, tuple(draw(st.lists(marks, max_size=3))))


@st.composite
def feed_records(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "customer_ref": draw(text),
        "profile_version": draw(st.integers(0, 2**62)),
        "kind": draw(st.sampled_from(KINDS)),
        "produced_at": draw(times),
        "ingested_at": draw(st.none() | times),
        "profile": draw(st.none() | feed_views()),
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


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(feed_records())
def test_feed_records_are_the_codec_bytes(record: dict[str, Any]) -> None:
    assert ENCODER.feed(record) == CODEC.encode(FEED_RECORD, ENCODER.datum(record))


def test_a_bank_decodes_the_profile_record_and_its_marks() -> None:
    (_, v), *_ = views_of([activity_event("s1", T0)])
    view = FeedView(v, (Mark("d-1", "acme", "OPEN", T0),))
    record = {
        "customer_ref": "c", "profile_version": 3, "kind": "PROFILE_UPDATE",
        "produced_at": T0, "ingested_at": T0, "profile": view, "alerts": [], "message": None,
    }  # fmt: skip
    datum = CODEC.decode(ENCODER.feed(record), {FEED_RECORD})[1]
    assert bank_view(datum["profile"]) == bank_view_of(v)
    assert profile_of(datum) == json.loads(view.json())
    assert view.encoded is not None  # written once, kept for the next bank's record


@given(audit_records())
def test_audit_records_are_the_codec_bytes(record: dict[str, Any]) -> None:
    assert ENCODER.audit(record) == CODEC.encode(AUDIT_RECORD, record)


def test_a_schema_of_another_layout_falls_back_to_the_codec(tmp_path: Path) -> None:
    """A FeedRecord schema the hand-written writer does not know (a field added after
    the last) makes the encoder use the codec, whose bytes carry the new field."""
    schemas = tmp_path / "schemas"
    shutil.copytree(SCHEMA_DIR, schemas)
    feed_schema = schemas / f"{FEED_RECORD}.avsc"
    declared = json.loads(feed_schema.read_text())
    declared["fields"].append({"name": "note", "type": ["null", "string"], "default": None})
    feed_schema.write_text(json.dumps(declared))
    codec = codec_for(None, schemas=load_schemas(schemas))
    slow = DeliveryEncoder(codec, OutputEncoder(codec))
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
    assert slow.feed(record) == codec.encode(FEED_RECORD, record)
    assert codec.decode(slow.feed(record), {FEED_RECORD})[1]["note"] is None

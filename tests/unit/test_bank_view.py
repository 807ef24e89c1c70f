"""The bank-facing profile JSON rendered straight from a view equals the reference paths.

``bank_view_of(v)`` (what the borrower stage sends) must be the very string
``bank_view`` gives for the ``BorrowerProfile`` the view stands for, and for the Avro
datum a bank decodes from ``exchange.profile-updates``: the chaos checker compares
feeds with the latter byte for byte.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.domain.delivery import bank_view, bank_view_of
from streams.domain.profile.fold import apply
from streams.domain.profile.model import View, saturate_money, view_to_profile
from streams.domain.profile.output import _iso
from streams.domain.profile.state import new_state
from streams.domain.profile.view import view
from streams.domain.profile.windows import DEFAULT_CONFIG
from streams.runtime.registry import codec_for
from streams.stages.borrower.records import OutputEncoder
from streams.wire.events import ExchangeEvent
from streams.wire.schemas import BORROWER_PROFILE
from tests.unit.profile_factories import BORROWER, DAY, T0, activity_event, event_sets

CODEC = codec_for(None)
ENCODER = OutputEncoder(CODEC)


def views_of(events: list[ExchangeEvent]) -> list[tuple[str, View]]:
    states = {}
    for ev in events:
        state = states.setdefault(ev.borrower_id, new_state(ev.borrower_id))
        apply(state, ev, DEFAULT_CONFIG)
    newest = max((e.occurred_at_ms for e in events), default=T0)
    return [(b, view(s, newest + DAY, DEFAULT_CONFIG)) for b, s in states.items()]


def assert_same(borrower: str, v: View) -> None:
    fast = bank_view_of(v, DEFAULT_CONFIG)
    assert fast == bank_view(view_to_profile(borrower, v, DEFAULT_CONFIG))
    datum = CODEC.decode(ENCODER.profile(v), {BORROWER_PROFILE})[1]
    assert fast == bank_view(datum)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(event_sets())
def test_the_view_path_renders_the_reference_json(events: list[ExchangeEvent]) -> None:
    for borrower, v in views_of(events):
        assert_same(borrower, v)


def test_amounts_below_a_cent_negative_and_clamped_render_alike() -> None:
    events = [
        activity_event("s1", T0, amount="10.505"),
        activity_event("s2", T0 + 1, amount="0.01"),
        activity_event("s3", T0 + 2, amount="9000000000000000.00"),
        activity_event("s4", T0 + 3, amount="9000000000000000.00"),
    ]
    ((borrower, v),) = views_of(events)
    assert borrower == BORROWER
    assert_same(borrower, saturate_money(v))
    (_, below), *_ = views_of(events[:2])
    assert any(isinstance(a, Decimal) for _, a in below[2][1])  # a Decimal below a cent
    assert bank_view_of(below) == bank_view(view_to_profile(BORROWER, below))


@given(st.integers(-62_135_596_800_000, 253_402_300_799_999))
def test_times_render_as_isoformat_writes_them(ms: int) -> None:
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)
    assert _iso(ms) == moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")

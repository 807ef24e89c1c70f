"""The profile stage's fast paths equal the reference paths they replace.

* decoding exchange.events straight into fold arguments (``profiles.events``) gives the
  same :class:`Op` as codec decode + ``validation.from_avro``;
* the view (``profile.view.view``) compares like ``material_change`` on profiles;
* the hand-written Avro (``profiles.bodies``) is byte-for-byte the codec's encoding of
  ``profile_to_avro(snapshot(...))``, and ProfileUpdate bytes decode to the same datum;
* the metrics hooks (``profiles.observe``) move the registry's series.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest
from confluent_kafka import TopicPartition
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from streams.domain.profile.alerts import Alert, AlertKind
from streams.domain.profile.fold import apply
from streams.domain.profile.model import cents, to_decimal
from streams.domain.profile.output import material_change, material_view, profile_to_avro
from streams.domain.profile.state import new_state
from streams.domain.profile.view import snapshot, view
from streams.domain.profile.windows import DEFAULT_CONFIG
from streams.domain.validation import from_avro, to_avro
from streams.errors import DecodeError
from streams.runtime.metrics import Metrics
from streams.runtime.registry import codec_for
from streams.settings import Settings
from streams.stages.borrower.batch import Outcome
from streams.stages.borrower.entry import new_borrower_entry
from streams.stages.borrower.events import EventDecoder, op_of
from streams.stages.borrower.fold import Emit
from streams.stages.borrower.observe import install_metrics
from streams.stages.borrower.records import OutputEncoder
from streams.stages.borrower.stage import BorrowerStage
from streams.wire.events import ExchangeEvent
from streams.wire.schemas import BORROWER_PROFILE, EXCHANGE_EVENT, PROFILE_UPDATE
from tests.unit.profile_factories import DAY, T0, event_sets, load

CODEC = codec_for(None)
DECODER = EventDecoder(CODEC)
ENCODER = OutputEncoder(CODEC)
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
READ_TIMES = st.sampled_from([T0 + 300 * DAY, T0 + 601 * DAY, T0 + 700 * DAY, T0 + 3000 * DAY])


def _states(events: list[ExchangeEvent]) -> dict[str, object]:
    states: dict[str, object] = {}
    for ev in events:
        states[ev.borrower_id] = apply(
            states.get(ev.borrower_id) or new_state(ev.borrower_id),  # type: ignore[arg-type]
            ev,
        )[0]
    return states


@SETTINGS
@given(event_sets(max_events=25))
def test_fast_decode_equals_the_generic_decode(events: list[ExchangeEvent]) -> None:
    assert DECODER._fast, "the fast path should be on for the shipped schema"
    for ev in events:
        encoded = CODEC.encode(EXCHANGE_EVENT, to_avro(ev))
        generic = op_of(3, from_avro(CODEC.decode(encoded)[1]))
        assert DECODER.decode(3, encoded) == generic


UNDECODABLE = (DecodeError, KeyError, ValueError, TypeError, IndexError, EOFError)


@SETTINGS
@given(event_sets(max_events=6), st.data())
def test_fast_decode_refuses_what_the_generic_decode_refuses(
    events: list[ExchangeEvent], data: st.DataObject
) -> None:
    """Truncated, extended or corrupted records: the fast path raises (what the stage
    counts as undecodable) or reads exactly what the generic path reads."""
    for ev in events:
        encoded = CODEC.encode(EXCHANGE_EVENT, to_avro(ev))
        cut = data.draw(st.integers(11, len(encoded) - 1))
        for bad in (encoded[:cut], encoded + b"\x00"):
            with pytest.raises(UNDECODABLE):
                DECODER.decode(0, bad)
        at = data.draw(st.integers(10, len(encoded) - 1))
        flipped = encoded[:at] + bytes([data.draw(st.integers(0, 255))]) + encoded[at + 1 :]
        try:
            generic = op_of(0, from_avro(CODEC.decode(flipped)[1]))
        except UNDECODABLE:
            generic = None
        try:
            fast = DECODER.decode(0, flipped)
        except UNDECODABLE:
            fast = None
        assert fast is None or fast == generic


@SETTINGS
@given(event_sets(max_events=25), READ_TIMES)
def test_hand_written_avro_equals_the_codec_bytes(events: list[ExchangeEvent], at: int) -> None:
    for state in _states(events).values():
        v = view(state, at)  # type: ignore[arg-type]
        p = snapshot(state, at)  # type: ignore[arg-type]
        profile = ENCODER.profile(v)
        assert profile == CODEC.encode(BORROWER_PROFILE, profile_to_avro(p))
        alerts = [Alert(AlertKind.DEFAULT, "loan from lender X defaulted", 1)]
        update = ENCODER.update(p.borrower_id, v, profile, False, T0, alerts)
        name, datum = CODEC.decode(update)
        assert name == PROFILE_UPDATE
        assert datum["profile"] == CODEC.decode(profile)[1]
        assert CODEC.encode(PROFILE_UPDATE, datum) == update
        assert (datum["profile_version"], datum["material"]) == (p.profile_version, False)


SHORT = replace(DEFAULT_CONFIG, count_windows_days=(7, 30), spend_windows_days=(30,))
SHORT_ENCODER = OutputEncoder(CODEC, SHORT)


@SETTINGS
@given(event_sets(max_events=25), READ_TIMES, st.lists(st.booleans(), min_size=1))
def test_hand_written_avro_of_memoized_reads_equals_the_codec_bytes(
    events: list[ExchangeEvent], at: int, short: list[bool]
) -> None:
    """Event by event, reads (which reuse what the state memoized) encode to the codec's
    bytes, also when two configs alternate on one state."""
    states: dict[str, Any] = {}
    for i, ev in enumerate(events):
        state = states.setdefault(ev.borrower_id, new_state(ev.borrower_id))
        apply(state, ev)
        for config, encoder in [(DEFAULT_CONFIG, ENCODER), (SHORT, SHORT_ENCODER)][
            : 1 + short[i % len(short)]
        ]:
            for read in (at, at + DAY // 2):
                p = snapshot(state, read, config)
                got = encoder.profile(view(state, read, config))
                assert got == CODEC.encode(BORROWER_PROFILE, profile_to_avro(p))


@SETTINGS
@given(event_sets(max_events=25), event_sets(max_events=6), READ_TIMES, st.sampled_from([0.0, 0.2]))
def test_material_view_agrees_with_material_change(
    events: list[ExchangeEvent], more: list[ExchangeEvent], at: int, ratio: float
) -> None:
    config = replace(DEFAULT_CONFIG, spend_material_ratio=ratio)
    states = _states(events)
    before = {b: view(s, at, config) for b, s in states.items()}  # type: ignore[arg-type]
    for ev in more:
        if ev.borrower_id in states:
            apply(states[ev.borrower_id], ev, config)  # type: ignore[arg-type]
    for b, s in states.items():
        new = view(s, at + DAY, config)  # type: ignore[arg-type]
        old_p, new_p = snapshot_of(b, before[b]), snapshot_of(b, new)
        assert material_view(before[b], new, config) == material_change(old_p, new_p, config)
    assert material_view(None, before[next(iter(states))], config) if states else True


def snapshot_of(borrower: str, v: tuple[object, ...]) -> object:
    from streams.domain.profile.model import view_to_profile

    return view_to_profile(borrower, v)


def test_money_is_exact_in_cents_also_below_a_cent() -> None:
    assert [cents(s) for s in ("0", "0.00", "10.5", "-0.05", "250")] == [0, 0, 1050, -5, 25000]
    odd = cents("10.505")
    assert isinstance(odd, Decimal) and to_decimal(odd + cents("0.01")) == Decimal("10.515")


def test_metrics_hooks_move_the_registry() -> None:
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    stage = BorrowerStage(Settings(state_store="memory"), CODEC, DEFAULT_CONFIG)
    install_metrics(stage, metrics)
    assert stage.on_batch is not None and stage.on_restore is not None
    entry = new_borrower_entry("b" * 64)
    load(stage.store, 0, "b" * 64, b"x")
    alerts = [Alert(AlertKind.NEW_LOAN, "r", 1), Alert(AlertKind.DEFAULT, "r", 1)]
    emits = [
        Emit("b" * 64, 0, b"p", b"u", 3, alerts, entry, 1, True, None),
        Emit("c" * 64, 0, None, None, 1, [], entry, 1, False, None),
        Emit(
            "d" * 64, 1, None, b"u", 2, [Alert(AlertKind.NEW_LOAN, "r", 1)], entry, 1, False, None
        ),
        Emit("e" * 64, 1, b"p", b"u", 1, [], entry, 1, True, None, saturated=True),
    ]
    stage.on_batch(Outcome(emits=emits), 7, 0.01)
    stage.on_restore(120, 0.5, 150)
    assert (
        registry.get_sample_value("creditstream_recovery_remaining_records", {"stage": "borrower"})
        == 150
    )
    stage.on_restore(30, 1.0, 0)

    def value(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    assert value("creditstream_profile_updates_total") == 3
    assert value("creditstream_profile_amounts_saturated_total") == 1
    assert value("creditstream_alerts_total", kind="new_loan") == 2
    assert value("creditstream_alerts_total", kind="default") == 1
    assert value("creditstream_table_entries", table="borrowers") == 1
    assert value("creditstream_recovery_restored_total", stage="borrower") == 150
    assert value("creditstream_recovery_progress_ratio", stage="borrower") == 1.0
    assert stage.on_tick is not None
    stage.on_tick(_FakeConsumer())  # type: ignore[arg-type]
    assert value("creditstream_consumer_lag_records", topic="exchange.events", partition="2") == 40
    # The tick also measures the local state: here the one record loaded above.
    assert value("creditstream_state_bytes", stage="borrower") == len("b" * 64) + len(b"x")
    assert value("creditstream_recovery_remaining_records", stage="borrower") == 0


class _FakeConsumer:
    """What ``runtime.lag.LagReporter`` reads: assignment, positions, cached watermarks."""

    def assignment(self) -> list[TopicPartition]:
        return [TopicPartition("exchange.events", 2)]

    def position(self, tps: list[TopicPartition]) -> list[TopicPartition]:
        return [TopicPartition(tp.topic, tp.partition, 60) for tp in tps]

    def get_watermark_offsets(self, tp: TopicPartition, cached: bool = False) -> tuple[int, int]:
        return 0, 100


def test_the_path_in_use_is_exported() -> None:
    """1 for the hand-written paths the shipped schemas allow; 0 once a stage fell back."""
    registry = CollectorRegistry()
    install_metrics(BorrowerStage(Settings(), CODEC, DEFAULT_CONFIG), Metrics(registry))
    for part in ("decode", "encode", "deliveries"):
        assert (
            registry.get_sample_value("creditstream_fast_path", {"stage": "borrower", "part": part})
            == 1
        )
    slow = BorrowerStage(Settings(), CODEC, DEFAULT_CONFIG)
    slow.decoder._fast.clear()
    slow.encoder.hand_written = False
    slow.deliveries.hand_written = False
    registry = CollectorRegistry()
    install_metrics(slow, Metrics(registry))
    for part in ("decode", "encode", "deliveries"):
        assert (
            registry.get_sample_value("creditstream_fast_path", {"stage": "borrower", "part": part})
            == 0
        )

"""Concrete examples for every profile feature and every alert (streams.domain.profile.fold)."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from io import BytesIO

import pytest
from fastavro import parse_schema, schemaless_reader, schemaless_writer

from streams.domain.profile.alerts import AlertKind
from streams.domain.profile.fold import apply
from streams.domain.profile.output import material_change, profile_to_avro, profile_to_dict
from streams.domain.profile.state import ProfileState, new_state, state_from_bytes, state_to_bytes
from streams.domain.profile.view import snapshot
from streams.domain.profile.windows import ProfileConfig
from streams.wire.events import ActivityKind, ExchangeEvent, LoanEventType
from streams.wire.schemas import SCHEMA_DIR
from tests.unit.profile_factories import BORROWER, DAY, HOUR, T0, activity_event, loan_event

A = LoanEventType


def run(events: list[ExchangeEvent], config: ProfileConfig | None = None) -> ProfileState:
    state = new_state(BORROWER)
    for ev in events:
        state, _ = apply(state, ev, config or ProfileConfig())
    return state


def kinds(state: ProfileState, ev: ExchangeEvent, cfg: ProfileConfig | None = None) -> list[str]:
    _, alerts = apply(state, ev, cfg or ProfileConfig())
    return [a.kind.value for a in alerts]


def test_open_loans_and_outstanding_principal_per_currency() -> None:
    s = run(
        [
            loan_event("e1", T0, A.DISBURSEMENT, loan_id="L1", principal="100.00"),
            loan_event("e2", T0, A.DISBURSEMENT, loan_id="L2", principal="50.50"),
            loan_event("e3", T0, A.DISBURSEMENT, loan_id="L3", principal="7", currency="USD"),
            loan_event("e4", T0 + DAY, A.REPAYMENT, loan_id="L2", principal="0"),
            loan_event("e5", T0 + DAY, A.APPLICATION, loan_id="L4"),
        ]
    )
    p = snapshot(s, T0 + DAY)
    assert p.open_loans == 2
    assert p.outstanding_principal == {"EUR": Decimal("100.00"), "USD": Decimal(7)}


def test_counts_in_day_windows_and_they_roll_on_read() -> None:
    s = run(
        [
            loan_event("a1", T0, A.APPLICATION, loan_id="L1", lender="X"),
            loan_event("d1", T0 + HOUR, A.DISBURSEMENT, loan_id="L1", lender="X"),
            loan_event("a2", T0 + 20 * DAY, A.APPLICATION, loan_id="L2", lender="Y"),
            loan_event("a3", T0 + 25 * DAY, A.APPLICATION, loan_id="L3", lender="Y"),
        ]
    )
    p = snapshot(s, T0 + 25 * DAY)
    assert p.applications == {"7d": 2, "30d": 3, "90d": 3}
    assert p.loans_opened == {"7d": 0, "30d": 1, "90d": 1}
    assert p.lenders_applied == {"30d": 2, "90d": 2}
    assert p.lenders_borrowing == {"30d": 1, "90d": 1}
    later = snapshot(s, T0 + 60 * DAY)  # no new event: windows still move on
    assert later.applications == {"7d": 0, "30d": 0, "90d": 3}
    assert later.lenders_applied == {"30d": 0, "90d": 2}
    assert snapshot(s, T0 + 200 * DAY).loans_opened == {"7d": 0, "30d": 0, "90d": 0}


def test_days_past_due_and_payment_history() -> None:
    t = T0  # 2024-03-09
    s = run(
        [
            loan_event("d", t, A.DISBURSEMENT),
            loan_event("o1", t + 35 * DAY, A.OVERDUE, dpd=35),  # April: '1'
            loan_event("o2", t + 100 * DAY, A.OVERDUE, dpd=95),  # June: '3'
            loan_event("r", t + 130 * DAY, A.REPAYMENT, principal="50"),  # July: '0'
        ]
    )
    p = snapshot(s, t + 130 * DAY)
    assert p.current_days_past_due == 0
    assert p.worst_days_past_due == {"3m": 95, "12m": 95, "24m": 95}
    assert p.payment_history == "03-10" + "-" * 19
    assert snapshot(s, t + 500 * DAY).worst_days_past_due == {"3m": 0, "12m": 0, "24m": 95}


def test_on_time_and_late_repayments_in_12_months() -> None:
    s = run(
        [
            loan_event("d", T0, A.DISBURSEMENT),
            loan_event("r1", T0 + DAY, A.REPAYMENT, due=date(2024, 3, 15)),
            loan_event("r2", T0 + 10 * DAY, A.REPAYMENT, due=date(2024, 3, 15)),  # after due
            loan_event("r3", T0 + 20 * DAY, A.REPAYMENT, dpd=3),
        ]
    )
    p = snapshot(s, T0 + 20 * DAY)
    assert (p.repayments_on_time, p.repayments_late) == (1, 2)
    p = snapshot(s, T0 + 400 * DAY)
    assert (p.repayments_on_time, p.repayments_late) == (0, 0)


def test_defaults_write_offs_first_delinquency_and_retention() -> None:
    s = run(
        [
            loan_event("d1", T0, A.DISBURSEMENT, loan_id="L1"),
            loan_event("o1", T0 + 40 * DAY, A.OVERDUE, loan_id="L1", dpd=40),
            loan_event("x1", T0 + 100 * DAY, A.DEFAULT, loan_id="L1", dpd=100),
            loan_event("w1", T0 + 200 * DAY, A.WRITE_OFF, loan_id="L1", dpd=200),
            loan_event("d2", T0, A.DISBURSEMENT, loan_id="L2"),
            loan_event("x2", T0 + 90 * DAY, A.DEFAULT, loan_id="L2", dpd=90),  # stays open
        ]
    )
    p = snapshot(s, T0 + 200 * DAY)
    assert (p.defaults, p.write_offs) == (2, 1)
    assert p.first_delinquency_ms == T0 + 40 * DAY
    # L1 ended (written off) at T0+200d: its negative data ages out 5 years later.
    end = T0 + 200 * DAY + 1826 * DAY
    assert (snapshot(s, end - 1).defaults, snapshot(s, end - 1).write_offs) == (2, 1)
    aged = snapshot(s, end)
    assert (aged.defaults, aged.write_offs) == (1, 0)  # L2 is still open: not ended
    assert aged.first_delinquency_ms == T0 + 90 * DAY


def test_activity_features_are_kept_apart() -> None:
    s = run(
        [
            activity_event("p1", T0, amount="10.00", platform="shop"),
            activity_event("p2", T0 + 50 * DAY, amount="5.25", platform="shop"),
            activity_event("t1", T0 + 60 * DAY, ActivityKind.TRAVEL_BOOKING, amount="300"),
            activity_event("c1", T0 + 61 * DAY, ActivityKind.ACCOUNT_CHANGE, amount="0"),
            activity_event("u1", T0 + 61 * DAY, amount="1", currency="USD", platform="rides"),
        ]
    )
    p = snapshot(s, T0 + 61 * DAY)
    assert p.spend_count == {"30d": 3, "90d": 4}
    assert p.spend_sum["30d"] == {"EUR": Decimal("305.25"), "USD": Decimal(1)}
    assert p.spend_sum["90d"]["EUR"] == Decimal("315.25")
    assert (p.travel_bookings, p.platforms_active, p.first_seen_ms) == (1, 2, T0)
    assert p.open_loans == 0 and p.applications["90d"] == 0
    later = snapshot(s, T0 + 200 * DAY)
    assert later.spend_count == {"30d": 0, "90d": 0} and later.platforms_active == 0


def test_provenance_and_version() -> None:
    s = run([activity_event("a", T0, platform="z"), loan_event("b", T0 - DAY, A.APPLICATION)])
    p = snapshot(s, T0)
    assert p.contributing_platforms == ("p1", "z")
    assert (p.last_event_ms, p.first_seen_ms, p.profile_version) == (T0, T0 - DAY, 2)


def test_duplicates_count_once_and_raise_nothing() -> None:
    s = new_state(BORROWER)
    ev = loan_event("e1", T0, A.DISBURSEMENT)
    assert kinds(s, ev) == ["new_loan"]
    assert kinds(s, ev) == [] and s.version == 1
    act = activity_event("a1", T0)
    apply(s, act)
    apply(state_from_bytes(state_to_bytes(s)), act)
    s2 = state_from_bytes(state_to_bytes(s))  # dedup memory survives a restart
    apply(s2, act)
    apply(s2, ev)
    assert s2.version == 2 and snapshot(s2, T0).spend_count["30d"] == 1


def test_corrections_replace_facts_in_either_order() -> None:
    base = loan_event("e1", T0, A.OVERDUE, dpd=90)
    fix = loan_event("c1", T0 + DAY, A.CORRECTION, dpd=10, corrects="e1")
    later_fix = loan_event("c2", T0 + 2 * DAY, A.CORRECTION, dpd=20, corrects="e1")
    for order in ([base, fix, later_fix], [later_fix, fix, base], [fix, base, later_fix]):
        p = snapshot(run(order), T0 + 2 * DAY)
        assert p.current_days_past_due == 20, order
        assert p.profile_version == 3
    moved = loan_event("c3", T0 + DAY, A.CORRECTION, loan_id="L9", corrects="e1", dpd=0)
    s = run([base, loan_event("e2", T0, A.DISBURSEMENT, loan_id="L9"), moved])
    assert set(s.loans) == {"p1\0L9"} and snapshot(s, T0).current_days_past_due == 0


def test_alerts_new_application_new_loan_payoff() -> None:
    s = new_state(BORROWER)
    assert kinds(s, loan_event("a", T0, A.APPLICATION)) == ["new_application"]
    assert kinds(s, loan_event("a2", T0, A.APPROVAL)) == []
    assert kinds(s, loan_event("d", T0 + 1, A.DISBURSEMENT)) == ["new_loan"]
    assert kinds(s, loan_event("r", T0 + 2, A.REPAYMENT, principal="40")) == []
    _, alerts = apply(s, loan_event("r2", T0 + 3, A.REPAYMENT, principal="0.00"))
    assert [a.kind for a in alerts] == [AlertKind.PAYOFF]
    assert "open loans now 0" in alerts[0].reason and BORROWER not in alerts[0].reason


def test_delinquency_worsened_only_on_level_increase() -> None:
    s = run([loan_event("d", T0, A.DISBURSEMENT)])
    assert kinds(s, loan_event("o1", T0 + DAY, A.OVERDUE, dpd=35)) == ["delinquency_worsened"]
    assert kinds(s, loan_event("o2", T0 + 2 * DAY, A.OVERDUE, dpd=35)) == []  # same again
    assert kinds(s, loan_event("o3", T0 + 3 * DAY, A.OVERDUE, dpd=50)) == []  # same bucket
    assert kinds(s, loan_event("late", T0 + DAY // 2, A.OVERDUE, dpd=170)) == []  # older
    _, alerts = apply(s, loan_event("o4", T0 + 4 * DAY, A.OVERDUE, dpd=65))
    assert alerts[0].details == {"from_days_past_due": 50, "to_days_past_due": 65}
    assert "30-59 -> 60-89" in alerts[0].reason


def test_default_alert_once_per_loan() -> None:
    s = run([loan_event("d", T0, A.DISBURSEMENT)])
    # Defaulting at 95 days past due is also a worsening of delinquency.
    assert kinds(s, loan_event("x", T0 + DAY, A.DEFAULT, dpd=95)) == [
        "default",
        "delinquency_worsened",
    ]
    assert kinds(s, loan_event("w", T0 + 2 * DAY, A.WRITE_OFF, dpd=120)) == []


def test_multi_lending_fires_when_threshold_is_crossed() -> None:
    cfg = ProfileConfig(multi_lending_lenders=3, multi_lending_days=30)
    s = new_state(BORROWER)
    for i, lender in enumerate(["A", "B"]):
        assert "multi_lending" not in kinds(
            s,
            loan_event(f"d{i}", T0 + i * DAY, A.DISBURSEMENT, loan_id=f"L{i}", lender=lender),
            cfg,
        )
    _, alerts = apply(
        s, loan_event("d2", T0 + 2 * DAY, A.DISBURSEMENT, loan_id="L2", lender="C"), cfg
    )
    ml = [a for a in alerts if a.kind is AlertKind.MULTI_LENDING]
    assert ml and ml[0].details == {"lenders": 3} and "threshold 3" in ml[0].reason
    ev = loan_event("d3", T0 + 3 * DAY, A.DISBURSEMENT, loan_id="L3", lender="D")
    assert "multi_lending" not in kinds(s, ev, cfg)  # already above: no new transition


def test_application_burst_needs_platforms_within_hours() -> None:
    cfg = ProfileConfig(burst_platforms=3, burst_hours=24)
    s = new_state(BORROWER)
    assert "application_burst" not in kinds(
        s, loan_event("a", T0, A.APPLICATION, platform="p1"), cfg
    )
    assert "application_burst" not in kinds(
        s, loan_event("b", T0 + 30 * HOUR, A.APPLICATION, platform="p2"), cfg
    )
    ev = loan_event("c", T0 + 31 * HOUR, A.APPLICATION, platform="p3")
    assert "application_burst" not in kinds(s, ev, cfg)  # p1 fell out of the 24 h window
    ev = loan_event("d", T0 + 32 * HOUR, A.APPLICATION, platform="p1", loan_id="L7")
    assert "application_burst" in kinds(s, ev, cfg)


def test_stale_events_are_counted_not_windowed_and_state_is_pruned() -> None:
    s = new_state(BORROWER)
    for i in range(400):
        apply(s, activity_event(f"a{i}", T0 + i * DAY))
    assert len(s.act_days) <= ProfileConfig().activity_horizon_days + 8
    version = s.version
    apply(s, activity_event("old", T0 - DAY, platform="old-shop"))  # outside every window
    p = snapshot(s, T0)
    assert s.version == version + 1 and p.spend_count["90d"] == 90
    assert p.first_seen_ms == T0 - DAY and "old-shop" in p.contributing_platforms


def test_wrong_borrower_and_unknown_state_format_are_refused() -> None:
    with pytest.raises(ValueError):
        apply(new_state("other"), activity_event("a", T0))
    with pytest.raises(ValueError):
        state_from_bytes(b"\x09garbage")


def test_bank_forms_have_no_borrower_id_and_match_the_schema() -> None:
    s = run([loan_event("d", T0, A.DISBURSEMENT, principal="12.5"), activity_event("a", T0)])
    p = snapshot(s, T0)
    as_json = json.dumps(profile_to_dict(p))
    assert BORROWER not in as_json and "borrower_id" not in as_json
    schema = parse_schema(
        json.loads((SCHEMA_DIR / "io.creditstream.BorrowerProfile.avsc").read_text())
    )
    buf = BytesIO()
    schemaless_writer(buf, schema, profile_to_avro(p))
    buf.seek(0)
    assert schemaless_reader(buf, schema) == profile_to_avro(p)


def test_material_change_ignores_provenance_and_small_spend_moves() -> None:
    s = run([activity_event(f"a{i}", T0, amount="10") for i in range(10)])
    before = snapshot(s, T0)
    assert material_change(None, before)
    apply(s, activity_event("b", T0 + 1, amount="10"))  # +10% spend only
    assert not material_change(before, snapshot(s, T0 + 1))
    apply(s, activity_event("c", T0 + 2, amount="500"))
    spent = snapshot(s, T0 + 2)
    assert material_change(before, spent)
    apply(s, loan_event("l", T0 + 3, A.APPLICATION))
    assert material_change(spent, snapshot(s, T0 + 3))

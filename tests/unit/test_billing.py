"""Billing: per-bank monthly statements reproduced from audit records."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.domain.billing import month_bounds, render_statement, statements

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def ms(year: int, month: int, day: int) -> int:
    return int(datetime(year, month, day, tzinfo=UTC).timestamp() * 1000)


def rec(
    bank: str, at: int | datetime, borrower: str = "a" * 64, purpose: str = "COLLECTIONS"
) -> dict[str, Any]:
    return {"bank": bank, "borrower_id": borrower, "purpose": purpose, "delivered_at": at}


def test_month_bounds_are_utc_and_roll_over_december() -> None:
    assert month_bounds("2026-08") == (ms(2026, 8, 1), ms(2026, 9, 1))
    assert month_bounds("2026-12") == (ms(2026, 12, 1), ms(2027, 1, 1))
    for bad in ("2026-13", "2026-00", "26-08", "2026-8", "2026-08-01"):
        with pytest.raises(ValueError, match="YYYY-MM"):
            month_bounds(bad)


def test_statement_counts_purposes_borrowers_and_first_last() -> None:
    start, end = month_bounds("2026-08")
    records = [
        rec("nordbank", start, "a" * 64, "CREDIT_APPLICATION"),
        rec("nordbank", start + 5, "b" * 64, "ACCOUNT_REVIEW"),
        rec("nordbank", datetime(2026, 8, 20, tzinfo=UTC), "a" * 64, "ACCOUNT_REVIEW"),
        rec("nordbank", end - 1, "a" * 64, "ACCOUNT_REVIEW"),
        rec("nordbank", end, "c" * 64),  # September: not this statement
        rec("nordbank", start - 1, "c" * 64),  # July
        rec("southbank", start + 9, "a" * 64),
    ]
    north, south = statements(records, "2026-08")
    assert (north.bank, north.total, north.borrowers) == ("nordbank", 4, 2)
    assert north.by_purpose == {"CREDIT_APPLICATION": 1, "ACCOUNT_REVIEW": 3}
    assert (north.first_ms, north.last_ms) == (start, end - 1)
    assert (south.bank, south.total) == ("southbank", 1)
    assert [s.bank for s in statements(records, "2026-08", "southbank")] == ["southbank"]
    assert statements(records, "2026-10") == []
    d = north.to_dict()
    assert d["deliveries"] == 4 and d["distinct_borrowers"] == 2
    assert d["first_delivery"] == "2026-08-01T00:00:00.000Z"
    assert d["last_delivery"] == "2026-08-31T23:59:59.999Z"
    text = render_statement(north)
    assert "nordbank" in text and "2026-08" in text
    assert "ACCOUNT_REVIEW" in text and " 3" in text
    assert "a" * 64 not in text  # borrowers are counted, never listed


@SETTINGS
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["alpha", "beta", "gamma"]),
            st.integers(ms(2026, 6, 15), ms(2026, 10, 15)),
            st.sampled_from(["x" * 64, "y" * 64, "z" * 64]),
            st.sampled_from(["CREDIT_APPLICATION", "COLLECTIONS"]),
        ),
        max_size=60,
    )
)
def test_billing_totals_equal_the_audit_count_per_month(
    rows: list[tuple[str, int, str, str]],
) -> None:
    records = [rec(b, t, who, p) for b, t, who, p in rows]
    billed = 0
    for month in ("2026-06", "2026-07", "2026-08", "2026-09", "2026-10"):
        start, end = month_bounds(month)
        found = statements(records, month)
        assert sum(s.total for s in found) == sum(start <= r["delivered_at"] < end for r in records)
        for s in found:
            mine = [r for r in records if r["bank"] == s.bank and start <= r["delivered_at"] < end]
            assert s.borrowers == len({r["borrower_id"] for r in mine})
        billed += sum(s.total for s in found)
    assert billed == len(records)

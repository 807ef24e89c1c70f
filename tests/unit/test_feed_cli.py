"""Pure parts of ``creditstream feed``/``subscribe``: formatting and argument parsing."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime

import pytest

from streams.commands.feed import expiry, figures, format_item, item_json
from streams.sdk.subscriber import Alert, FeedItem, SubscriberError, check_request
from streams.sdk.subscriber.items import to_feed_item


def item(**kw: object) -> FeedItem:
    base: dict[str, object] = {
        "customer_ref": "c-1",
        "profile_version": 7,
        "kind": "ALERT",
        "produced_at": datetime(2026, 8, 5, 0, 0, 1, 20_000, tzinfo=UTC),
        "ingested_at": None,
        "profile": {"open_loans": 2, "outstanding_principal": {"EUR": "1200.00"},
                    "current_days_past_due": 35, "defaults": 0},
        "alerts": (Alert("delinquency_worsened", "worst days past due rose from 0 to 35"),),
        "message": None,
    }  # fmt: skip
    return FeedItem(**(base | kw))  # type: ignore[arg-type]


def test_format_item_shows_time_ref_kind_version_figures_and_alerts() -> None:
    assert format_item(item()) == (
        "2026-08-05T00:00:01.020Z  c-1  ALERT  v7  open_loans=2 owed=EUR 1200.00 dpd=35  "
        "[delinquency_worsened: worst days past due rose from 0 to 35]"
    )
    reject = item(kind="SUBSCRIPTION_REJECT", profile=None, alerts=(), message="consent expired")
    assert format_item(reject).endswith("SUBSCRIPTION_REJECT  v7  — consent expired")


def test_wire_text_cannot_drive_the_terminal() -> None:
    assert "\x1b" not in format_item(item(customer_ref="c\x1b[2J", message="m\x07"))
    assert figures({"open_loans": "\x1b]0;x\x07"}) == "open_loans=?]0;x?"


def test_item_json_is_serializable_with_iso_times() -> None:
    out = json.loads(json.dumps(item_json(item())))
    assert out["produced_at"] == "2026-08-05T00:00:01.020Z"
    assert out["alerts"] == [{"kind": "delinquency_worsened", "reason": out["alerts"][0]["reason"]}]


def test_expiry_is_the_start_of_the_day_utc() -> None:
    assert expiry("2027-06-01") == datetime(2027, 6, 1, tzinfo=UTC)
    with pytest.raises(argparse.ArgumentTypeError):
        expiry("01/06/2027")


def test_to_feed_item_parses_profile_json_and_times() -> None:
    got = to_feed_item(
        {"customer_ref": "c", "profile_version": 3, "kind": "PROFILE_UPDATE",
         "produced_at": 1_000, "ingested_at": None, "profile": "not json", "alerts": [],
         "message": None}, 1, 42,
    )  # fmt: skip
    assert got.profile is None and got.produced_at == datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC)
    assert (got.partition, got.offset) == (1, 42)


def test_check_request_names_fields_never_values() -> None:
    with pytest.raises(SubscriberError, match="customer_ref") as exc:
        check_request("850101-1234", " ", "C", "COLLECTIONS", None)
    assert "850101" not in str(exc.value)
    with pytest.raises(SubscriberError, match="timezone-aware"):
        check_request("850101-1234", "c", "C", "COLLECTIONS", datetime(2030, 1, 1))
    assert (
        check_request("x", "c", "C", "COLLECTIONS", datetime(1970, 1, 1, 0, 0, 2, tzinfo=UTC))
        == 2000
    )

"""The demo's screen is a pure function of the workers' metrics."""

from __future__ import annotations

from streams.commands.demo import render


def test_render_lists_platforms_rejects_and_latency() -> None:
    samples = {
        "creditstream_events_in_total": {
            (("kind", "PURCHASE"), ("platform", "shopmart")): 90.0,
            (("kind", "REPAYMENT"), ("platform", "shopmart")): 10.0,
            (("kind", "RIDE"), ("platform", "zipride")): 5.0,
        },
        "creditstream_rejects_total": {
            (("platform", "shopmart"), ("reason", "NOT_AVRO")): 2.0,
            (("platform", "zipride"), ("reason", "TOO_OLD")): 1.0,
        },
        "creditstream_ready": {(("stage", "ingress"),): 1.0},
        "creditstream_ingress_batch_duration_seconds_count": {(): 4.0},
        "creditstream_ingress_batch_duration_seconds_sum": {(): 0.2},
    }
    screen = render(samples, sent=108, elapsed=12.0, workers=2).splitlines()
    assert "2 worker(s), simulator sent 108 records" in screen[0]
    assert screen[1] == "stages ready: ingress yes"
    rows = {
        line.split()[0]: line.split()[1:] for line in screen if line.startswith(("shop", "zip"))
    }
    assert rows == {"shopmart": ["100", "2"], "zipride": ["5", "1"]}
    assert "rejects by reason: NOT_AVRO 2, TOO_OLD 1" in screen
    assert "ingress: 4 batches, mean 50 ms per batch" in screen


def test_render_before_any_data() -> None:
    screen = render({}, sent=0, elapsed=0.0, workers=1)
    assert "stages ready: —" in screen
    assert "rejects by reason: none yet" in screen


def test_render_shows_each_banks_deliveries_latency_and_last_feed_records() -> None:
    from datetime import UTC, datetime

    from streams.sdk.subscriber import Alert, FeedItem

    at = datetime(2026, 9, 1, 12, 0, tzinfo=UTC)
    items = [
        FeedItem("no-1-0", 0, "NO_DATA_YET", at, None, None, (), "subscribed until …"),
        FeedItem(
            "no-1-0",
            3,
            "ALERT",
            at,
            at,
            {"open_loans": 2},
            (Alert("NEW_LOAN", "loan opened"),),
            None,
        ),
    ]
    samples = {
        "creditstream_feed_deliveries_total": {
            (("bank", "northbank"), ("purpose", "CREDIT_APPLICATION")): 7.0,
            (("bank", "southbank"), ("purpose", "CREDIT_APPLICATION")): 5.0,
        },
        "creditstream_event_to_feed_latency_seconds_sum": {(("bank", "northbank"),): 1.4},
        "creditstream_event_to_feed_latency_seconds_count": {(("bank", "northbank"),): 7.0},
    }
    screen = render(samples, 10, 5.0, 1, {"northbank": items, "southbank": []}).splitlines()
    assert "bank feeds: northbank 7, southbank 5" in screen
    assert "northbank: 7 deliveries, event-to-feed mean 200 ms" in screen
    assert "southbank: 5 deliveries" in screen
    shown = [line for line in screen if line.startswith("  ")]
    assert len(shown) == 2 and "no-1-0  NO_DATA_YET  v0" in shown[0]
    assert "ALERT  v3  open_loans=2  [NEW_LOAN: loan opened]" in shown[1]


def test_render_without_feeds_says_so() -> None:
    assert "bank feeds: no deliveries yet" in render({}, 0, 0.0, 1).splitlines()

"""``creditstream publish``: JSON Lines parsing, refusals by line, the summary (no broker)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from streams.commands import publish
from streams.commands.publish import PublishSummary, Refusal, bar, iter_lines, parse_line
from streams.sdk.producer import DeliveryReport
from streams.wire.avrojson import EXAMPLES_DIR
from streams.wire.schemas import ACTIVITY_EVENT, LOAN_EVENT

NATIONAL_ID = "850101-1234"  # what the examples carry: must never be echoed


def example(folder: str, name: str, **extra: Any) -> dict[str, Any]:
    obj: dict[str, Any] = json.loads(Path(EXAMPLES_DIR, folder, name).read_text())
    return obj | extra


def line(obj: dict[str, Any]) -> str:
    return json.dumps(obj)


def test_valid_lines_parse_into_datums_of_their_schema() -> None:
    loan = parse_line(1, line(example("LoanEvent", "overdue_35_days.json", schema="LoanEvent")))
    act = parse_line(
        2, line(example("ActivityEvent", "travel_booking.json", schema="ActivityEvent"))
    )
    assert isinstance(loan, publish.Line) and isinstance(act, publish.Line)
    assert (loan.number, loan.schema_name) == (1, LOAN_EVENT)
    assert act.schema_name == ACTIVITY_EVENT
    assert "schema" not in loan.datum
    assert loan.datum["days_past_due"] == 35


def test_blank_lines_are_skipped_but_numbering_follows_the_file() -> None:
    good = line(example("ActivityEvent", "travel_booking.json", schema="ActivityEvent"))
    items = list(iter_lines([good + "\n", "\n", "   \n", good.encode() + b"\n"]))
    assert [i.number for i in items if isinstance(i, publish.Line)] == [1, 4]


def test_refusals_name_line_and_reason_never_the_content() -> None:
    broken_json = '{"schema": "LoanEvent", "national_id": "850101-1234", '
    no_schema = line(example("LoanEvent", "overdue_35_days.json"))
    wrong_schema = line(example("LoanEvent", "overdue_35_days.json", schema="850101-1234"))
    bad_amount = line(example("LoanEvent", "overdue_35_days.json", schema="LoanEvent", amount=12.5))
    typo = line(example("LoanEvent", "overdue_35_days.json", schema="LoanEvent", nationl_id="x"))
    items = list(
        iter_lines([broken_json, "[1, 2]", no_schema, wrong_schema, bad_amount, typo, b"\xff\xfe"])
    )
    assert all(isinstance(i, Refusal) for i in items)
    got = [(i.line, i.reason) for i in items if isinstance(i, Refusal)]
    assert got == [
        (1, "INVALID_JSON"),
        (2, "INVALID_JSON"),
        (3, "MISSING_FIELD"),
        (4, "WRONG_SCHEMA"),
        (5, "INVALID_FIELD"),
        (6, "INVALID_FIELD"),
        (7, "INVALID_JSON"),
    ]
    assert all("850101" not in i.message for i in items if isinstance(i, Refusal))
    amount = items[4]
    assert isinstance(amount, Refusal) and "amount" in amount.message


def test_summary_counts_reasons_and_lists_lines_in_order() -> None:
    summary = PublishSummary("shopmart", events=5, queued=3)
    summary.refused += [
        Refusal(4, "NEGATIVE_AMOUNT", "amount must not be negative"),
        Refusal(2, "INVALID_JSON", "not valid JSON (Expecting value, column 1)"),
    ]
    summary.on_delivery(DeliveryReport("ingest.shopmart.loans", 0, 7, None, "e1", ref=1))
    summary.on_delivery(DeliveryReport("ingest.shopmart.loans", 0, 8, None, "e3", ref=3))
    summary.on_delivery(DeliveryReport("ingest.shopmart.loans", 1, -1, "_MSG_TIMED_OUT: x", ref=5))
    text = summary.render()
    assert text.splitlines()[0] == (
        "platform shopmart: 5 events, 2 delivered, 2 refused locally, 1 failed, 0 undelivered"
    )
    assert "refused by reason: INVALID_JSON 1, NEGATIVE_AMOUNT 1" in text
    listed = [ln.strip().split(":")[0] for ln in text.splitlines() if ln.startswith("  line")]
    assert listed == ["line 2", "line 4", "line 5"]
    assert summary.exit_code == 1
    assert json.loads(summary.to_json())["delivered"] == 2


def test_all_delivered_is_success() -> None:
    summary = PublishSummary("shopmart", events=1, queued=1)
    summary.on_delivery(DeliveryReport("ingest.shopmart.loans", 0, 0, None, "e1", ref=1))
    assert summary.ok and summary.exit_code == 0
    summary.undelivered = 1
    assert summary.exit_code == 1


def test_progress_bar() -> None:
    assert bar(0, 10, 10) == "[..........] 0/10   0%"
    assert bar(5, 10, 10) == "[#####.....] 5/10  50%"
    assert bar(10, 10, 10) == "[##########] 10/10 100%"
    assert bar(7, None) == "7"


def test_parser_documents_the_convention() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    publish.register(sub)
    args = parser.parse_args(["publish", "--platform", "shopmart", "events.jsonl"])
    assert (args.platform, args.file, args.handler) == (
        "shopmart",
        "events.jsonl",
        publish.cmd_publish,
    )
    help_text = sub.choices["publish"].format_help()
    assert '"schema"' in help_text and "LoanEvent" in help_text

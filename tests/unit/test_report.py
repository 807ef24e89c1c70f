"""One's own report (``streams.domain.report``): what it says and how it is shown.

The state is folded by the borrower stage's own pure batch path (``test_borrower_batch``
helpers), so the report reads exactly what the stage keeps.
"""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

from streams.domain.profile.windows import DEFAULT_CONFIG
from streams.domain.report import DELIVERY_MONTHS, build_report, to_html, to_text
from streams.stages.borrower.events import op_of
from streams.stages.borrower.store import BorrowerStore
from streams.wire.events import LoanEventType
from tests.unit.profile_factories import BORROWER, DAY, activity_event, loan_event
from tests.unit.test_borrower_batch import NOW, req, run


def held() -> BorrowerStore:
    """A borrower with two platforms' loans (one corrected), activity and a consent."""
    store = BorrowerStore(10)
    ops = [
        op_of(0, loan_event("d1", NOW - 40 * DAY, LoanEventType.DISBURSEMENT, loan_id="L1")),
        op_of(0, loan_event("o1", NOW - 10 * DAY, LoanEventType.OVERDUE, loan_id="L1", dpd=12)),
        op_of(
            0,
            loan_event(
                "d2",
                NOW - 5 * DAY,
                LoanEventType.DISBURSEMENT,
                loan_id="<b>K9</b>",
                platform="shop",
                lender="<script>alert(1)</script>",
                principal="250.00",
            ),
        ),
        op_of(0, loan_event("c1", NOW - 9 * DAY, LoanEventType.CORRECTION, corrects="o1", dpd=3)),
        op_of(0, activity_event("a1", NOW - 2 * DAY, amount="19.90")),
    ]
    run(store, [req("nordbank", "nb-1")], ops)
    return store


def delivery(days_ago: int, bank: str = "nordbank") -> dict[str, Any]:
    return {
        "bank": bank,
        "purpose": "ACCOUNT_REVIEW",
        "consent_ref": "consent-nb-1",
        "profile_version": 3,
        "delivered_at": NOW - days_ago * DAY,
    }


def report_of(store: BorrowerStore, **kw: Any) -> Any:
    entry = store.get(0, BORROWER)
    sent = [delivery(1), delivery(DELIVERY_MONTHS * 31, "oldbank")]
    return build_report(BORROWER, entry.state, entry.subs, sent, NOW, DEFAULT_CONFIG, **kw)


def test_the_report_shows_the_records_behind_the_profile_and_who_received_it() -> None:
    report = report_of(held(), reports_this_year=1)
    assert report.profile is not None and report.profile["open_loans"] == 2
    lines = {(ln.platform, ln.loan_id): ln for ln in report.loans}
    assert set(lines) == {("p1", "L1"), ("shop", "<b>K9</b>")}
    l1 = [(r.type, r.days_past_due, r.corrected) for r in lines[("p1", "L1")].records]
    assert l1 == [("DISBURSEMENT", 0, False), ("OVERDUE", 3, True)]  # the correction applied
    assert [d.spend_count for d in report.activity] == [1]
    assert [c["bank"] for c in report.consents] == ["nordbank"]
    # Deliveries older than 12 months are not listed.
    assert [d["bank"] for d in report.deliveries] == ["nordbank"]
    assert report.borrower == BORROWER[:8] and BORROWER not in str(report.as_dict())


def test_a_person_nobody_reported_on_gets_a_report_saying_so() -> None:
    report = build_report(BORROWER, None, {}, [], NOW, DEFAULT_CONFIG)
    assert report.profile is None and report.loans == ()
    assert "No records" in to_text(report) and "No records" in to_html(report)


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        self.tags.append(tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_the_page_escapes_what_platforms_sent_and_loads_nothing() -> None:
    page = to_html(report_of(held()))
    parsed = _Text()
    parsed.feed(page)
    assert "script" not in parsed.tags and "b" not in parsed.tags
    text = "".join(parsed.text)
    assert "<script>alert(1)</script>" in text and "<b>K9</b>" in text  # shown, not run
    assert "http" not in page and "src=" not in page  # self-contained
    assert "Audit chain verified" in text


def test_a_broken_chain_and_a_third_report_are_said_plainly() -> None:
    report = report_of(held(), chain_problems=["offset 7: hash mismatch"], reports_this_year=3)
    text = to_text(report)
    assert "BROKEN" in text and "offset 7" in text
    assert "Report 3 this year (2 are free a year; this one may be charged)" in text
    assert "BROKEN" in to_html(report)

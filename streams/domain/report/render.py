"""A person's report as text (the terminal) or as one HTML page (to keep or print).

Every value in a report came from a platform or a bank, so the text form replaces
control characters and the HTML form escapes everything; the page loads nothing from
anywhere (no script, no font, no image), so it can be opened offline and mailed.
"""

from __future__ import annotations

from html import escape
from typing import Any

from streams.domain.report.model import Report

#: What the profile's fields mean, in the words a borrower would use.
LABELS = {
    "open_loans": "Open loans",
    "outstanding_principal": "Outstanding principal",
    "loans_opened": "Loans opened (by window)",
    "applications": "Loan applications (by window)",
    "lenders_applied": "Lenders applied to (by window)",
    "lenders_borrowing": "Lenders borrowed from (by window)",
    "current_days_past_due": "Days past due now",
    "worst_days_past_due": "Worst days past due (by window)",
    "payment_history": "Payment history (newest month last)",
    "repayments_on_time": "Repayments on time",
    "repayments_late": "Repayments late",
    "defaults": "Defaults",
    "write_offs": "Write-offs",
    "first_delinquency_ms": "First delinquency",
    "spend_count": "Purchases (by window)",
    "spend_sum": "Spending (by window)",
    "travel_bookings": "Travel bookings",
    "platforms_active": "Platforms active",
    "first_seen_ms": "First seen",
    "contributing_platforms": "Platforms that reported",
    "last_event_ms": "Latest record",
    "as_of_ms": "As of",
    "profile_version": "Profile version",
}


def _clean(text: object) -> str:
    return "".join(c if c.isprintable() else "?" for c in str(text))


def _value(v: Any) -> str:
    if isinstance(v, dict):
        return ", ".join(f"{k}: {_value(x)}" for k, x in v.items()) or "none"
    if isinstance(v, list | tuple):
        return ", ".join(_value(x) for x in v) or "none"
    return "none" if v is None else str(v)


def _year_note(r: Report) -> str:
    extra = r.reports_this_year > r.free_reports_per_year
    return f"Report {r.reports_this_year} this year ({r.free_reports_per_year} are free a year" + (
        "; this one may be charged)" if extra else ")"
    )


def to_text(r: Report) -> str:
    """The report for a terminal."""
    out = [f"What creditstream holds on borrower {r.borrower}… as of {r.as_of}", ""]
    if r.profile is None:
        out.append("No records: no platform has reported on you.")
    else:
        out.append("Your profile (what a bank with your consent receives):")
        for key, value in r.profile.items():
            out.append(f"  {LABELS.get(key, key)}: {_clean(_value(value))}")
        out += ["", "The loan records behind it:"]
        for ln in r.loans:
            out.append(f"  {_clean(ln.platform)} loan {_clean(ln.loan_id)} ({ln.status})")
            for rec in ln.records:
                fixed = "  corrected by the platform" if rec.corrected else ""
                out.append(
                    f"    {rec.date} {rec.type} lender {_clean(rec.lender)} principal "
                    f"{rec.principal_outstanding} {_clean(rec.currency)} "
                    f"days past due {rec.days_past_due}{fixed}"
                )
        out += ["", "The activity behind it (all platforms, per day):"]
        for day in r.activity:
            sums = _clean(_value(day.spend_sums))
            out.append(
                f"  {day.date} purchases {day.spend_count} ({sums}) travel {day.travel_bookings}"
            )
        platforms = ", ".join(f"{_clean(p)} (last {d})" for p, d in r.activity_platforms.items())
        out.append(f"  platforms: {platforms or 'none'}")
    out += ["", "Banks holding your consent now:"]
    out += [
        f"  {_clean(c['bank'])} for {c['purpose']} (consent {_clean(c['consent_ref'])}) "
        f"until {c['until']}"
        for c in r.consents
    ] or ["  none"]
    out += ["", "Your objections (disputes):"]
    out += [
        f"  {d['dispute_id']} against {_clean(d['platform'])} loan {_clean(d['loan_id'])}: "
        f"{d['status']}, opened {d['opened']}"
        + (f", the platform must answer by {d['deadline']}" if d["status"] == "OPEN" else "")
        + (f", closed {d['closed']}: {_clean(d['note'])}" if d["closed"] else "")
        for d in r.disputes
    ] or ["  none"]
    out += ["", "Who received your data in the last 12 months:"]
    out += [
        f"  {d['delivered_at']} {_clean(d['bank'])} for {d['purpose']} "
        f"(consent {_clean(d['consent_ref'])}, profile v{d['profile_version']})"
        for d in r.deliveries
    ] or ["  nobody"]
    out.append(
        "Audit chain: verified"
        if r.chain_ok
        else "Audit chain: BROKEN, this list cannot be trusted: " + "; ".join(r.chain_problems)
    )
    out += ["", _year_note(r)]
    return "\n".join(out) + "\n"


_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;"
    "color:#1a1a1a}table{border-collapse:collapse;width:100%;margin:.5rem 0 1.5rem}"
    "th,td{border-bottom:1px solid #ddd;padding:.3rem .5rem;text-align:left;"
    "vertical-align:top}th{background:#f3f3f3}.bad{color:#a00;font-weight:bold}"
    ".ok{color:#070}.muted{color:#666}"
)


_DISPUTE_COLUMNS = ("dispute_id", "platform", "loan_id", "status", "opened", "deadline", "closed",
                    "note")  # fmt: skip


def _table(head: list[str], rows: list[list[object]]) -> str:
    if not rows:
        return '<p class="muted">none</p>'
    th = "".join(f"<th>{escape(h)}</th>" for h in head)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(_clean(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def to_html(r: Report) -> str:
    """The report as one self-contained page."""
    parts = [
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        "<title>Your credit report</title>",
        f"<style>{_STYLE}</style></head><body>",
        "<h1>What creditstream holds on you</h1>",
        f'<p class="muted">Borrower {escape(r.borrower)}… as of {escape(r.as_of)}</p>',
    ]
    if r.profile is None:
        parts.append("<p>No records: no platform has reported on you.</p>")
    else:
        parts.append("<h2>Your profile</h2><p>What a bank with your consent receives.</p>")
        parts.append(
            _table(
                ["Figure", "Value"],
                [[LABELS.get(k, k), _value(v)] for k, v in r.profile.items()],
            )
        )
        parts.append("<h2>The loan records behind it</h2>")
        rows: list[list[object]] = [
            [
                ln.platform,
                ln.loan_id,
                ln.status,
                rec.date,
                rec.type,
                rec.lender,
                f"{rec.principal_outstanding} {rec.currency}",
                rec.days_past_due,
                "yes" if rec.corrected else "",
            ]
            for ln in r.loans
            for rec in ln.records
        ]
        head = ["Platform", "Loan", "Status", "Date", "Record", "Lender", "Principal", "DPD"]
        parts.append(_table([*head, "Corrected"], rows))
        parts.append("<h2>The activity behind it</h2>")
        parts.append(
            _table(
                ["Day", "Purchases", "Spent", "Travel bookings"],
                [
                    [d.date, d.spend_count, _value(d.spend_sums), d.travel_bookings]
                    for d in r.activity
                ],
            )
        )
    parts.append("<h2>Banks holding your consent now</h2>")
    parts.append(
        _table(
            ["Bank", "Purpose", "Consent", "Until"],
            [[c["bank"], c["purpose"], c["consent_ref"], c["until"]] for c in r.consents],
        )
    )
    parts.append("<h2>Your objections</h2>")
    parts.append(
        _table(
            ["Dispute", "Platform", "Loan", "Status", "Opened", "Answer due", "Closed", "Outcome"],
            [[d[k] for k in _DISPUTE_COLUMNS] for d in r.disputes],
        )
    )
    parts.append("<h2>Who received your data in the last 12 months</h2>")
    parts.append(
        _table(
            ["When", "Bank", "Purpose", "Consent", "Profile version"],
            [
                [d["delivered_at"], d["bank"], d["purpose"], d["consent_ref"], d["profile_version"]]
                for d in r.deliveries
            ],
        )
    )
    chain = (
        '<p class="ok">Audit chain verified.</p>'
        if r.chain_ok
        else '<p class="bad">Audit chain BROKEN: this list cannot be trusted ('
        + escape("; ".join(map(_clean, r.chain_problems)))
        + ").</p>"
    )
    parts += [chain, f"<p>{escape(_year_note(r))}</p></body></html>"]
    return "\n".join(parts) + "\n"

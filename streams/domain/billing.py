"""Metering: per-bank monthly statements reproduced from the audit trail.

Contract: every audit record is one billable delivery (see ``streams.domain.delivery``: only
deliveries that carry personal data are audited), so a statement is a pure function of
the audit records of its month, ``[first day 00:00 UTC, next month's first day)``:

* deliveries by purpose and in total, distinct borrowers (counted, never listed),
  first and last delivery time;
* :func:`statements` gives one :class:`Statement` per bank with at least one delivery in
  the month (or only ``bank``'s), sorted by bank; the totals of all statements equal
  the number of the month's audit records.

Pure: no Kafka import; records are ``AuditRecord`` datums (``delivered_at`` as epoch
ms or an aware datetime).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from streams.domain.validation import to_epoch_ms

_MONTH = re.compile(r"(\d{4})-(\d{2})")


def month_bounds(month: str) -> tuple[int, int]:
    """``[start, end)`` epoch ms of a ``YYYY-MM`` month in UTC (``ValueError`` if bad)."""
    match = _MONTH.fullmatch(month)
    if match is None or not 1 <= int(match.group(2)) <= 12:
        raise ValueError(f"month must be YYYY-MM, got {month!r}")
    year, mon = int(match.group(1)), int(match.group(2))
    start = datetime(year, mon, 1, tzinfo=UTC)
    end = datetime(year + mon // 12, mon % 12 + 1, 1, tzinfo=UTC)
    return to_epoch_ms(start), to_epoch_ms(end)


@dataclass(slots=True)
class Statement:
    """One bank's deliveries in one month."""

    bank: str
    month: str
    by_purpose: dict[str, int] = field(default_factory=dict)
    borrowers: int = 0
    first_ms: int | None = None
    last_ms: int | None = None

    @property
    def total(self) -> int:
        return sum(self.by_purpose.values())

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (times ISO-8601 UTC)."""
        return {
            "bank": self.bank,
            "month": self.month,
            "deliveries": self.total,
            "by_purpose": dict(sorted(self.by_purpose.items())),
            "distinct_borrowers": self.borrowers,
            "first_delivery": _iso(self.first_ms),
            "last_delivery": _iso(self.last_ms),
        }


def statements(
    records: Iterable[Mapping[str, Any]], month: str, bank: str | None = None
) -> list[Statement]:
    """Per-bank statements of ``month`` (``YYYY-MM``, UTC) from audit records."""
    start, end = month_bounds(month)
    found: dict[str, Statement] = {}
    borrowers: dict[str, set[str]] = {}
    for rec in records:
        at = to_epoch_ms(rec["delivered_at"])
        who = rec["bank"]
        if not start <= at < end or (bank is not None and who != bank):
            continue
        st = found.get(who)
        if st is None:
            st = found[who] = Statement(who, month)
            borrowers[who] = set()
        purpose = str(rec["purpose"])
        st.by_purpose[purpose] = st.by_purpose.get(purpose, 0) + 1
        borrowers[who].add(rec["borrower_id"])
        st.first_ms = at if st.first_ms is None else min(st.first_ms, at)
        st.last_ms = at if st.last_ms is None else max(st.last_ms, at)
    for who, st in found.items():
        st.borrowers = len(borrowers[who])
    return [found[b] for b in sorted(found)]


def render_statement(st: Statement) -> str:
    """A readable statement, e.g. for ``creditstream billing``."""
    lines = [
        f"Statement for bank {st.bank}, {st.month} (UTC)",
        f"  deliveries          {st.total:>10}",
    ]
    for purpose, n in sorted(st.by_purpose.items()):
        lines.append(f"    {purpose:<18}{n:>10}")
    lines += [
        f"  distinct borrowers  {st.borrowers:>10}",
        f"  first delivery      {_iso(st.first_ms) or '-':>24}",
        f"  last delivery       {_iso(st.last_ms) or '-':>24}",
    ]
    return "\n".join(lines)


def _iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    moment = datetime.fromtimestamp(ms / 1000, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")

"""One's own report (the information subject's right to their record), pure.

:mod:`~streams.domain.report.model` builds a :class:`Report` from what the exchange
holds; :mod:`~streams.domain.report.render` prints it as text or writes it as one
self-contained HTML page. Where the inputs come from (the compacted borrower-state
topic and the audit log) is ``streams.worker.report``.
"""

from streams.domain.report.model import (
    DELIVERY_MONTHS,
    FREE_REPORTS_PER_YEAR,
    ActivityDay,
    LoanLine,
    LoanRecord,
    Report,
    build_report,
    disputes_of,
)
from streams.domain.report.render import to_html, to_text

__all__ = [
    "DELIVERY_MONTHS",
    "FREE_REPORTS_PER_YEAR",
    "ActivityDay",
    "LoanLine",
    "LoanRecord",
    "Report",
    "build_report",
    "disputes_of",
    "to_html",
    "to_text",
]

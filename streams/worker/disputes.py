"""A person's objections and their outcome, read from what the borrower stage committed.

:func:`dispute_status` reads the borrower's committed state record
(``exchange.borrower-state``, the one partition holding the borrower, as the report
does: ``streams.worker.report``) and lists the objections with their outcome. It sits in
the worker layer because it decodes the stage's state record. Filing requests is
``streams.sdk.rights``.
"""

from __future__ import annotations

from streams.domain.privacy import Pseudonymizer
from streams.domain.report import disputes_of
from streams.settings import Settings
from streams.worker.report import borrower_partitions, committed_entries


def dispute_status(
    settings: Settings, pseudo: Pseudonymizer, national_id: str, *, timeout: float = 30.0
) -> tuple[dict[str, str], ...]:
    """The person's objections (open first, then newest first) as committed."""
    conf = settings.kafka_client_config()
    _, where = borrower_partitions(conf, pseudo, national_id, timeout)
    found: list[dict[str, str]] = []
    for entry in committed_entries(conf, where, timeout).values():
        found += disputes_of(entry.rights)
    return tuple(found)

"""Offsets a transaction's records reached, from the producer's delivery reports.

A stage that keeps a local copy of its state (``streams.runtime.state``) writes it
after the batch's transaction commits, with the changelog offset it reaches, so that
recovery replays exactly the records after it. The offsets come from delivery reports
asked for on the records that matter (each partition's or source's last one);
:func:`wait_reports` serves them once the commit has flushed the producer (the reports
are queued by then; ``poll`` hands them over).
"""

from __future__ import annotations

from collections.abc import Collection, Hashable
from typing import TypeVar

from confluent_kafka import Producer

from streams.errors import CreditstreamError

K = TypeVar("K", bound=Hashable)
REPORT_WAIT_S = 10.0


def wait_reports(
    producer: Producer | None, wanted: Collection[K], reached: dict[K, int], what: str
) -> dict[K, int]:
    """``reached`` once it holds every key of ``wanted`` (call after the commit);
    raises when a report does not come within ``REPORT_WAIT_S``."""
    if producer is None or all(k in reached for k in wanted):
        return reached
    producer.poll(0)
    waited = 0.0
    while not all(k in reached for k in wanted):
        if waited >= REPORT_WAIT_S:
            missing = sorted(str(k) for k in wanted if k not in reached)
            raise CreditstreamError(f"no delivery report for {what} {missing}")
        producer.poll(0.05)
        waited += 0.05
    return reached

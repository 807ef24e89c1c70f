"""Ingress → Prometheus: what each committed batch did, counted once, after commit.

Counting after the transaction commits means an aborted (and redone) batch is never
counted twice. Hot-path children are pre-bound by ``Metrics``' cached helpers.
"""

from __future__ import annotations

import time
from collections import Counter

from streams.runtime.metrics import Metrics
from streams.stages.ingress.process import Accepted, Refused
from streams.stages.ingress.stage import BatchHook
from streams.wire.rejects import Reason

STAGE = "ingress"


def metrics_hook(metrics: Metrics) -> BatchHook:
    """A batch hook that counts accepted events, rejects, duplicates and batch time."""

    def on_batch(outcomes: list[Accepted | Refused], seconds: float) -> None:
        # Counted per label set first: one locked inc per series and batch, not per record.
        accepted: Counter[tuple[str, str]] = Counter()
        refused: Counter[tuple[str, str]] = Counter()
        for o in outcomes:
            if isinstance(o, Accepted):
                accepted[o.platform, o.event_type] += 1
            else:
                refused[o.platform, o.reject.reason] += 1
        for (platform, event_type), n in accepted.items():
            metrics.events_in_for(platform, event_type).inc(n)
        for (platform, reason), n in refused.items():
            metrics.rejects_for(platform, reason).inc(n)
            if reason == Reason.DUPLICATE_EVENT:
                metrics.duplicates_for(platform).inc(n)
        platforms = {platform for platform, _ in accepted} | {p for p, _ in refused}
        metrics.events_forwarded.inc(accepted.total())
        metrics.ingress_batch_duration.observe(seconds)
        now = time.time()
        for platform in platforms:
            metrics.platform_seen(platform, now)

    return on_batch

"""Ingress → Prometheus: what each committed batch did, counted once, after commit.

Counting after the transaction commits means an aborted (and redone) batch is never
counted twice. Hot-path children are pre-bound by ``Metrics``' cached helpers.
"""

from __future__ import annotations

import time

from streams.runtime.metrics import Metrics
from streams.stages.ingress.process import Accepted, Refused
from streams.stages.ingress.stage import BatchHook
from streams.wire.rejects import Reason

STAGE = "ingress"


def metrics_hook(metrics: Metrics) -> BatchHook:
    """A batch hook that counts accepted events, rejects, duplicates and batch time."""

    def on_batch(outcomes: list[Accepted | Refused], seconds: float) -> None:
        forwarded = 0
        platforms: set[str] = set()
        for o in outcomes:
            platforms.add(o.platform)
            if isinstance(o, Accepted):
                forwarded += 1
                metrics.events_in_for(o.platform, o.event_type).inc()
            else:
                metrics.rejects_for(o.platform, o.reject.reason).inc()
                if o.reject.reason == Reason.DUPLICATE_EVENT:
                    metrics.duplicates_for(o.platform).inc()
        metrics.events_forwarded.inc(forwarded)
        metrics.ingress_batch_duration.observe(seconds)
        now = time.time()
        for platform in platforms:
            metrics.platform_seen(platform, now)

    return on_batch

"""The status page's model: a worker's Prometheus samples, as the page shows them.

Pure: no Kafka, no Faust, no I/O; the views hand in the samples of the worker's own
registry (:func:`flatten` of ``registry.collect()``) and this turns them into one
JSON-ready dict (:func:`page_model`):

* ``platforms``: per platform (label values seen on any platform family) the records
  accepted (``creditstream_events_in_total`` summed over kinds), rejected (by reason),
  the reject rate ``rejected / (accepted + rejected)`` (``None`` before any record),
  duplicates, the last record's arrival time (unix s, ``None`` if never) and the
  objections by outcome (``creditstream_disputes_total``); ``disputes_open`` and
  ``disputes_overdue`` come from ``disputes`` when given (read from Kafka, see
  ``streams.worker.status.readers``), else ``None``.
* ``banks``: per bank the feed deliveries (total and by purpose), consent requests by
  outcome, and the event-to-feed latency since this worker started: observations,
  mean, p50 and p99 estimated from the histogram's buckets as PromQL's
  ``histogram_quantile`` does (:func:`quantile`).
* ``stages``: per stage (ready, recovery, restarts, dead letters, lag, state) the
  readiness (``None`` when unknown), recovery progress and records left, restarts, dead
  letters by reason, consumer lag summed over the stage's input partitions (topics
  mapped to stages by :data:`streams.topology.TOPOLOGY`), tenants left waiting, and its
  transactions: how many committed, their commit's p50 and p99 (``commits``).
* ``totals`` and ``worker``: exchange-wide counters and the worker's identity.

Every count is this worker's, since it started (a Prometheus counter's value).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from prometheus_client.metrics_core import Metric

from streams.topology import TOPOLOGY

#: One sample: (name as exposed, labels, value).
Sample = tuple[str, Mapping[str, str], float]
#: A histogram child's cumulative buckets, ``(upper bound, count)`` by rising bound.
Buckets = tuple[tuple[float, float], ...]

LATENCY = "creditstream_event_to_feed_latency_seconds"
COMMIT = "creditstream_stage_commit_seconds"


def flatten(families: Iterable[Metric]) -> list[Sample]:
    """Every sample of ``families`` (what ``CollectorRegistry.collect()`` yields)."""
    return [(s.name, s.labels, float(s.value)) for fam in families for s in fam.samples]


class Index:
    """Samples by name, with the sums the page needs."""

    def __init__(self, samples: Iterable[Sample]) -> None:
        self.by_name: dict[str, list[tuple[Mapping[str, str], float]]] = defaultdict(list)
        for name, labels, value in samples:
            self.by_name[name].append((labels, value))

    def by(self, name: str, label: str) -> dict[str, float]:
        """``name`` summed by the value of ``label`` (samples without it left out)."""
        out: dict[str, float] = defaultdict(float)
        for labels, value in self.by_name.get(name, ()):
            if label in labels:
                out[labels[label]] += value
        return dict(out)

    def by2(self, name: str, outer: str, inner: str) -> dict[str, dict[str, float]]:
        """``name`` summed by ``outer`` then ``inner`` label values."""
        out: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        for labels, value in self.by_name.get(name, ()):
            if outer in labels and inner in labels:
                out[labels[outer]][labels[inner]] += value
        return {k: dict(v) for k, v in out.items()}

    def total(self, name: str) -> float:
        return sum(value for _labels, value in self.by_name.get(name, ()))

    def buckets(self, name: str, label: str) -> dict[str, Buckets]:
        """The cumulative buckets of histogram ``name``'s children, by ``label``."""
        found: dict[str, list[tuple[float, float]]] = defaultdict(list)
        for labels, value in self.by_name.get(f"{name}_bucket", ()):
            if label in labels and "le" in labels:
                found[labels[label]].append((float(labels["le"]), value))
        return {k: tuple(sorted(v)) for k, v in found.items()}


def quantile(q: float, buckets: Buckets) -> float | None:
    """The ``q`` quantile (0..1) of cumulative ``buckets``, interpolated linearly within
    a bucket as PromQL's ``histogram_quantile``: ``None`` without observations, the
    highest finite bound when it falls in the ``+Inf`` bucket."""
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    lower, below = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if math.isinf(bound):
                return lower
            if count == below:
                return bound
            return lower + (bound - lower) * (rank - below) / (count - below)
        lower, below = bound, count
    return lower


def stage_of_topic(topic: str) -> str | None:
    """The stage reading ``topic`` (``None`` when no stage declares it as an input)."""
    for stage in TOPOLOGY.stages:
        if any(TOPOLOGY.topic(name).matches(topic) for name in stage.inputs):
            return stage.name
    return None


def _platforms(ix: Index, disputes: Mapping[str, tuple[int, int]] | None) -> list[dict[str, Any]]:
    accepted = ix.by("creditstream_events_in_total", "platform")
    reasons = ix.by2("creditstream_rejects_total", "platform", "reason")
    duplicates = ix.by("creditstream_duplicates_total", "platform")
    last = ix.by("creditstream_platform_last_event_timestamp_seconds", "platform")
    objections = ix.by2("creditstream_disputes_total", "platform", "outcome")
    names = set(accepted) | set(reasons) | set(duplicates) | set(last) | set(objections)
    names |= set(disputes or {})
    rows = []
    for p in sorted(names):
        ok, bad = accepted.get(p, 0.0), sum(reasons.get(p, {}).values())
        opened = disputes.get(p) if disputes is not None else None
        rows.append(
            {
                "platform": p,
                "accepted": ok,
                "rejected": bad,
                "reject_rate": bad / (ok + bad) if ok + bad else None,
                "rejects_by_reason": dict(sorted(reasons.get(p, {}).items())),
                "duplicates": duplicates.get(p, 0.0),
                "last_record_at": last.get(p),
                "disputes": dict(sorted(objections.get(p, {}).items())),
                "disputes_open": None if disputes is None else (opened or (0, 0))[0],
                "disputes_overdue": None if disputes is None else (opened or (0, 0))[1],
            }
        )
    return rows


def _banks(ix: Index) -> list[dict[str, Any]]:
    purposes = ix.by2("creditstream_feed_deliveries_total", "bank", "purpose")
    consents = ix.by2("creditstream_consent_requests_total", "bank", "outcome")
    buckets = ix.buckets(LATENCY, "bank")
    sums = ix.by(f"{LATENCY}_sum", "bank")
    rows = []
    for b in sorted(set(purposes) | set(consents) | set(buckets)):
        mine = buckets.get(b, ())
        count = mine[-1][1] if mine else 0.0
        rows.append(
            {
                "bank": b,
                "deliveries": sum(purposes.get(b, {}).values()),
                "deliveries_by_purpose": dict(sorted(purposes.get(b, {}).items())),
                "consent_requests": dict(sorted(consents.get(b, {}).items())),
                "latency": {
                    "count": count,
                    "mean_s": sums.get(b, 0.0) / count if count else None,
                    "p50_s": quantile(0.5, mine),
                    "p99_s": quantile(0.99, mine),
                },
            }
        )
    return rows


def _stages(ix: Index) -> list[dict[str, Any]]:
    ready = ix.by("creditstream_ready", "stage")
    progress = ix.by("creditstream_recovery_progress_ratio", "stage")
    remaining = ix.by("creditstream_recovery_remaining_records", "stage")
    restored = ix.by("creditstream_recovery_restored_total", "stage")
    restarts = ix.by("creditstream_stage_restarts_total", "stage")
    dead = ix.by2("creditstream_dead_letters_total", "stage", "reason")
    state = ix.by("creditstream_state_bytes", "stage")
    waiting = ix.by2("creditstream_tenant_partitions_waiting", "stage", "tenant")
    commits = ix.buckets(COMMIT, "stage")
    lag: dict[str, float] = defaultdict(float)
    partitions: dict[str, int] = defaultdict(int)
    for labels, value in ix.by_name.get("creditstream_consumer_lag_records", ()):
        stage = stage_of_topic(labels.get("topic", "")) or "other"
        lag[stage] += value
        partitions[stage] += 1
    known = set(ready) | set(progress) | set(restarts) | set(dead) | set(lag) | set(state)
    known |= set(commits)
    order = [st.name for st in TOPOLOGY.stages]
    rows = []
    for s in sorted(known, key=lambda n: (order.index(n) if n in order else len(order), n)):
        rows.append(
            {
                "stage": s,
                "ready": None if s not in ready else ready[s] >= 1,
                "recovery_progress": progress.get(s),
                "recovery_remaining": remaining.get(s),
                "restored": restored.get(s, 0.0),
                "restarts": restarts.get(s, 0.0),
                "dead_letters": sum(dead.get(s, {}).values()),
                "dead_letters_by_reason": dict(sorted(dead.get(s, {}).items())),
                "lag": lag.get(s, 0.0),
                "partitions": partitions.get(s, 0),
                "state_bytes": state.get(s),
                "tenants_waiting": dict(sorted(waiting.get(s, {}).items())),
                "commits": {
                    "count": commits[s][-1][1] if commits.get(s) else 0.0,
                    "p50_s": quantile(0.5, commits.get(s, ())),
                    "p99_s": quantile(0.99, commits.get(s, ())),
                },
            }
        )
    return rows


def page_model(
    samples: Iterable[Sample],
    *,
    now: float,
    disputes: Mapping[str, tuple[int, int]] | None = None,
) -> dict[str, Any]:
    """The page's data from ``samples`` (see the module doc); ``now`` is unix seconds,
    ``disputes`` maps a platform to its (open, overdue) objections when known."""
    ix = Index(samples)
    info = next(iter(ix.by_name.get("creditstream_worker_info", ())), ({}, 0.0))[0]
    return {
        "generated_at": now,
        "worker": {k: info.get(k) for k in ("version", "app_id", "worker_id")},
        "platforms": _platforms(ix, disputes),
        "banks": _banks(ix),
        "stages": _stages(ix),
        "totals": {
            "events_forwarded": ix.total("creditstream_events_forwarded_total"),
            "profile_updates": ix.total("creditstream_profile_updates_total"),
            "audit_records": ix.total("creditstream_audit_records_total"),
            "alerts": dict(sorted(ix.by("creditstream_alerts_total", "kind").items())),
        },
    }

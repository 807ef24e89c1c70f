"""How code moves the metrics: bound children for hot paths, and plain updates.

Contract: :class:`Metrics` is :class:`~streams.runtime.metrics.families.Families` plus

* the ``*_for(...)`` helpers: the bound child of a labelled family, made on first use
  and returned from a small cache after (~0.1 µs, against ~2 µs for ``labels()``), the
  same object on every call; per-event code uses only these;
* convenience updates for what happens per batch or less (lag, readiness, recovery,
  restarts, waiting tenants, worker identity), each clamping or dropping what would
  mislead: negative lag is 0, a revoked partition's lag series is removed.
"""

from __future__ import annotations

import contextlib
import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from streams.runtime.metrics.families import Families


class Metrics(Families):
    """The exchange's metrics on one registry; see :mod:`streams.runtime.metrics`."""

    def __init__(self, registry: CollectorRegistry) -> None:
        super().__init__(registry)
        self._events_in: dict[tuple[str, str], Counter] = {}
        self._rejects: dict[tuple[str, str], Counter] = {}
        self._duplicates: dict[str, Counter] = {}
        self._latency: dict[str, Histogram] = {}
        self._alerts: dict[str, Counter] = {}
        self._deliveries: dict[tuple[str, str], Counter] = {}
        self._last_event: dict[str, Gauge] = {}

    # -- pre-bound children for hot paths (same object on every call) -----------------
    def events_in_for(self, platform: str, kind: str) -> Counter:
        """``events_in{platform, kind}`` child."""
        try:
            return self._events_in[(platform, kind)]
        except KeyError:
            child = self._events_in[(platform, kind)] = self.events_in.labels(platform, kind)
            return child

    def rejects_for(self, platform: str, reason: str) -> Counter:
        """``rejects{platform, reason}`` child."""
        try:
            return self._rejects[(platform, reason)]
        except KeyError:
            child = self._rejects[(platform, reason)] = self.rejects.labels(platform, reason)
            return child

    def duplicates_for(self, platform: str) -> Counter:
        """``duplicates{platform}`` child."""
        try:
            return self._duplicates[platform]
        except KeyError:
            child = self._duplicates[platform] = self.duplicates.labels(platform)
            return child

    def latency_for(self, bank: str) -> Histogram:
        """``event_to_feed_latency_seconds{bank}`` child."""
        try:
            return self._latency[bank]
        except KeyError:
            child = self._latency[bank] = self.event_to_feed_latency.labels(bank)
            return child

    def alerts_for(self, kind: str) -> Counter:
        """``alerts{kind}`` child."""
        try:
            return self._alerts[kind]
        except KeyError:
            child = self._alerts[kind] = self.alerts.labels(kind)
            return child

    def deliveries_for(self, bank: str, purpose: str) -> Counter:
        """``feed_deliveries{bank, purpose}`` child."""
        try:
            return self._deliveries[(bank, purpose)]
        except KeyError:
            child = self._deliveries[(bank, purpose)] = self.feed_deliveries.labels(bank, purpose)
            return child

    def last_event_for(self, platform: str) -> Gauge:
        """``platform_last_event_timestamp_seconds{platform}`` child."""
        try:
            return self._last_event[platform]
        except KeyError:
            child = self._last_event[platform] = self.platform_last_event.labels(platform)
            return child

    # -- convenience updates (not per event, or per batch) ----------------------------
    def observe_event_to_feed(self, bank: str, ingest_ts: float, now: float | None = None) -> None:
        """Observe ``now - ingest_ts`` (unix seconds) for ``bank``; clock skew clamps to 0."""
        elapsed = (time.time() if now is None else now) - ingest_ts
        self.latency_for(bank).observe(max(0.0, elapsed))

    def platform_seen(self, platform: str, when: float | None = None) -> None:
        """Record that a record from ``platform`` arrived at ``when`` (default: now)."""
        self.last_event_for(platform).set(time.time() if when is None else when)

    def set_lag(self, topic: str, partition: int, lag: int) -> None:
        """Set the lag of one input partition (negative values clamp to 0)."""
        self.consumer_lag.labels(topic, str(partition)).set(max(0, lag))

    def forget_partition(self, topic: str, partition: int) -> None:
        """Drop a revoked partition's lag series so it does not freeze at its last value."""
        with contextlib.suppress(KeyError):
            self.consumer_lag.remove(topic, str(partition))

    def set_table_entries(self, table: str, entries: int) -> None:
        """Set how many entries ``table`` holds on this worker."""
        self.table_entries.labels(table).set(entries)

    def set_recovery(self, stage: str, progress: float, remaining: int = 0) -> None:
        """Set ``stage``'s recovery progress, clamped to 0..1, and the changelog records
        it still has to replay."""
        self.recovery_progress.labels(stage).set(min(1.0, max(0.0, progress)))
        self.recovery_remaining.labels(stage).set(max(0, remaining))

    def set_ready(self, stage: str, ready: bool) -> None:
        """Set ``stage``'s readiness gauge to 1 or 0."""
        self.ready.labels(stage).set(1 if ready else 0)

    def stage_restarted(self, stage: str) -> None:
        """Count one in-place restart of ``stage``."""
        self.stage_restarts.labels(stage).inc()

    def set_tenant_waiting(self, stage: str, tenant: str, partitions: int) -> None:
        """Set how many of ``tenant``'s partitions ``stage`` leaves unread (0 drops it)."""
        if partitions:
            self.tenant_partitions_waiting.labels(stage, tenant).set(partitions)
        else:
            with contextlib.suppress(KeyError):
                self.tenant_partitions_waiting.remove(stage, tenant)

    def set_worker_info(self, *, version: str, app_id: str, worker_id: str) -> None:
        """Publish this worker's identity as ``creditstream_worker_info``."""
        self.worker.info({"version": version, "app_id": app_id, "worker_id": worker_id})

"""The last minutes of a worker's counters, for the status page's charts.

Pure: no Kafka, no Faust, no clock of its own. A timer in the views takes a
:class:`Snapshot` of the worker's registry every :data:`SAMPLE_EVERY_S` seconds (off the
hot path: one ``registry.collect()``) and adds it to a :class:`History`, which keeps the
newest :data:`SAMPLES_KEPT`. :meth:`History.charts` turns consecutive snapshots into one
point per interval (the interval's end time):

* ``accepted`` and ``rejected``: records per second, per platform;
* ``deliveries``: feed records per second, per bank;
* ``latency_p50`` and ``latency_p99``: the event-to-feed latency of the deliveries made
  in the interval, per bank (``None`` for an interval without any), from the
  histogram's bucket counts as PromQL's ``histogram_quantile(rate(...))``.

Counters of one process only grow, so a difference is never negative; a name first
seen later counts from 0.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from streams.worker.status.model import LATENCY, Buckets, Index, Sample, quantile

#: Seconds between two snapshots.
SAMPLE_EVERY_S = 5.0
#: Snapshots kept: 61 make 60 intervals of 5 s, the last five minutes.
SAMPLES_KEPT = 61


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The counters the charts need, at unix time ``t``."""

    t: float
    accepted: Mapping[str, float]
    rejected: Mapping[str, float]
    deliveries: Mapping[str, float]
    latency: Mapping[str, Buckets]

    @classmethod
    def of(cls, samples: Iterable[Sample], t: float) -> Snapshot:
        ix = Index(samples)
        return cls(
            t,
            ix.by("creditstream_events_in_total", "platform"),
            ix.by("creditstream_rejects_total", "platform"),
            ix.by("creditstream_feed_deliveries_total", "bank"),
            ix.buckets(LATENCY, "bank"),
        )


def _rates(pairs: list[tuple[Snapshot, Snapshot]], pick: str) -> dict[str, list[float]]:
    names = sorted({k for a, b in pairs for k in (*getattr(a, pick), *getattr(b, pick))})
    out: dict[str, list[float]] = {}
    for name in names:
        out[name] = [
            max(0.0, getattr(b, pick).get(name, 0.0) - getattr(a, pick).get(name, 0.0))
            / (b.t - a.t)
            for a, b in pairs
        ]
    return out


def _delta(before: Buckets, after: Buckets) -> Buckets:
    """Observations between two cumulative bucket sets (same bounds; missing: none)."""
    earlier = dict(before)
    return tuple((bound, max(0.0, n - earlier.get(bound, 0.0))) for bound, n in after)


def _latency(pairs: list[tuple[Snapshot, Snapshot]], q: float) -> dict[str, list[float | None]]:
    banks = sorted({k for _a, b in pairs for k in b.latency})
    return {
        bank: [
            quantile(q, _delta(a.latency.get(bank, ()), b.latency.get(bank, ()))) for a, b in pairs
        ]
        for bank in banks
    }


class History:
    """A ring buffer of snapshots (oldest dropped beyond ``keep``)."""

    def __init__(self, keep: int = SAMPLES_KEPT) -> None:
        self._snaps: deque[Snapshot] = deque(maxlen=keep)

    def __len__(self) -> int:
        return len(self._snaps)

    def add(self, snap: Snapshot) -> None:
        """Append ``snap``; one not newer than the last is ignored (no zero intervals)."""
        if self._snaps and snap.t <= self._snaps[-1].t:
            return
        self._snaps.append(snap)

    def charts(self) -> dict[str, Any]:
        """``{"t": [end of each interval], "series": [chart, ...]}``, each chart
        ``{"id", "title", "unit", "lines": {name: [value per interval]}}``."""
        pairs = list(pairwise(self._snaps))
        return {
            "t": [b.t for _a, b in pairs],
            "series": [
                _chart(
                    "accepted", "Records accepted, per platform", "/s", _rates(pairs, "accepted")
                ),
                _chart(
                    "rejected", "Records rejected, per platform", "/s", _rates(pairs, "rejected")
                ),
                _chart(
                    "deliveries", "Feed deliveries, per bank", "/s", _rates(pairs, "deliveries")
                ),
                _chart(
                    "latency_p50", "Event-to-feed latency p50, per bank", "s", _latency(pairs, 0.5)
                ),
                _chart(
                    "latency_p99", "Event-to-feed latency p99, per bank", "s", _latency(pairs, 0.99)
                ),
            ],
        }


def _chart(ident: str, title: str, unit: str, lines: Mapping[str, Any]) -> dict[str, Any]:
    return {"id": ident, "title": title, "unit": unit, "lines": dict(lines)}

"""The demo's live screen: what the workers' ``/metrics`` say, and the banks' feeds.

Contract: :func:`scrape` reads every worker's ``/metrics`` and sums each sample over
the workers (a worker still starting is skipped) into :data:`Samples`; :func:`screen_of`
is pure: those samples, the records sent, the time and each bank's latest feed items in,
a :class:`Screen` out (events in and rejected per platform, rejects by reason, profiles
updated, alerts, ingress batch latency, deliveries and event-to-feed latency per bank,
the last :data:`FEED_LINES` feed records of each bank, cut at :data:`LINE_MAX`).
:func:`render` draws it as plain text (a log, a pipe); ``streams.commands.demo.live`` as
the live layout of a terminal.
"""

from __future__ import annotations

import urllib.request
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

from streams.commands.feed import format_item
from streams.sdk.subscriber import FeedItem

Samples = dict[str, dict[tuple[tuple[str, str], ...], float]]
FEED_LINES = 4  # feed records shown per bank
LINE_MAX = 150  # a feed record with many alerts would wrap and scroll the screen


def scrape(ports: list[int]) -> Samples:
    """Samples summed over every worker's /metrics (a worker still starting is skipped)."""
    out: Samples = defaultdict(lambda: defaultdict(float))
    for port in ports:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as resp:
                text = resp.read().decode()
        except OSError:
            continue
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                out[s.name][tuple(sorted(s.labels.items()))] += s.value
    return out


def _by(samples: Samples, name: str, label: str) -> dict[str, float]:
    totals: dict[str, float] = defaultdict(float)
    for labels, value in samples.get(name, {}).items():
        totals[dict(labels).get(label, "")] += value
    return dict(totals)


@dataclass(frozen=True)
class Screen:
    """What the demo shows, computed once per refresh from the scraped samples; the
    plain text (:func:`render`) and the live layout (``streams.commands.demo.live``)
    both draw it."""

    elapsed: float
    workers: int
    sent: int
    ready: dict[str, float]
    platforms: list[tuple[str, float, float]]  # platform, events in, rejected
    rejects: dict[str, float]
    updates: float
    alerts: dict[str, float]
    batches: tuple[float, float]  # ingress batches, mean ms per batch
    banks: list[tuple[str, float, float | None, list[str]]]  # deliveries, mean ms, lines


def screen_of(
    samples: Samples,
    sent: int,
    elapsed: float,
    workers: int,
    feeds: Mapping[str, Sequence[FeedItem]] | None = None,
) -> Screen:
    """The figures of one refresh (pure)."""
    events = _by(samples, "creditstream_events_in_total", "platform")
    rejects_by_platform = _by(samples, "creditstream_rejects_total", "platform")
    batches = sum(samples.get("creditstream_ingress_batch_duration_seconds_count", {}).values())
    batch_s = sum(samples.get("creditstream_ingress_batch_duration_seconds_sum", {}).values())
    return Screen(
        elapsed=elapsed,
        workers=workers,
        sent=sent,
        ready=_by(samples, "creditstream_ready", "stage"),
        platforms=[
            (p, events.get(p, 0), rejects_by_platform.get(p, 0))
            for p in sorted(set(events) | set(rejects_by_platform))
        ],
        rejects=_by(samples, "creditstream_rejects_total", "reason"),
        updates=sum(samples.get("creditstream_profile_updates_total", {}).values()),
        alerts=_by(samples, "creditstream_alerts_total", "kind"),
        batches=(batches, 1000 * batch_s / batches if batches else 0.0),
        banks=_banks(samples, feeds or {}),
    )


def render(
    samples: Samples,
    sent: int,
    elapsed: float,
    workers: int,
    feeds: Mapping[str, Sequence[FeedItem]] | None = None,
) -> str:
    """The screen as plain text (pure: samples and the banks' latest feed items in)."""
    sc = screen_of(samples, sent, elapsed, workers, feeds)
    lines = [
        f"creditstream demo — {sc.elapsed:5.0f}s, {sc.workers} worker(s), "
        f"simulator sent {sc.sent} records",
        "stages ready: "
        + (", ".join(f"{k} {'yes' if v else 'no'}" for k, v in sorted(sc.ready.items())) or "—"),
        "",
        f"{'platform':<22}{'events in':>10}{'rejected':>10}",
    ]
    lines += [f"{p:<22}{ev:>10.0f}{rj:>10.0f}" for p, ev, rj in sc.platforms]
    lines += ["", "rejects by reason: " + (pairs(sc.rejects) or "none yet")]
    lines += [f"profiles updated: {sc.updates:.0f}", "alerts: " + (pairs(sc.alerts) or "none yet")]
    if sc.batches[0]:
        lines.append(f"ingress: {sc.batches[0]:.0f} batches, mean {sc.batches[1]:.0f} ms per batch")
    delivered = {bank: n for bank, n, _, _ in sc.banks if n}
    lines += ["", "bank feeds: " + (pairs(delivered) or "no deliveries yet")]
    for bank, n, mean, shown in sc.banks:
        lines.append(
            f"{bank}: {n:.0f} deliveries"
            + (f", event-to-feed mean {mean:.0f} ms" if mean is not None else "")
        )
        lines += [f"  {line}" for line in shown]
    lines += ["", "Ctrl-C stops everything."]
    return "\n".join(lines)


def _banks(
    samples: Samples, feeds: Mapping[str, Sequence[FeedItem]]
) -> list[tuple[str, float, float | None, list[str]]]:
    """Deliveries per bank (metered, from /metrics), its mean event-to-feed latency and
    its last feed records, each cut at :data:`LINE_MAX`."""
    delivered = _by(samples, "creditstream_feed_deliveries_total", "bank")
    latency_sum = _by(samples, "creditstream_event_to_feed_latency_seconds_sum", "bank")
    latency_n = _by(samples, "creditstream_event_to_feed_latency_seconds_count", "bank")
    out = []
    for bank in sorted(set(feeds) | set(delivered)):
        n = latency_n.get(bank, 0)
        mean = 1000 * latency_sum.get(bank, 0) / n if n else None
        shown = []
        for item in list(feeds.get(bank, ()))[-FEED_LINES:]:
            line = format_item(item)
            shown.append(line if len(line) <= LINE_MAX - 2 else line[: LINE_MAX - 3] + "…")
        out.append((bank, delivered.get(bank, 0), mean, shown))
    return out


def pairs(d: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.0f}" for k, v in sorted(d.items(), key=lambda kv: -kv[1]))

"""The demo's live screen: what the workers' ``/metrics`` say, and the banks' feeds.

Contract: :func:`scrape` reads every worker's ``/metrics`` and sums each sample over
the workers (a worker still starting is skipped) into :data:`Samples`; :func:`render`
is pure: those samples, the records sent, the time and each bank's latest feed items in,
the screen's text out (events in and rejected per platform, rejects by reason, profiles
updated, alerts, ingress batch latency, deliveries and event-to-feed latency per bank,
the last :data:`FEED_LINES` feed records of each bank, cut at :data:`LINE_MAX`).
"""

from __future__ import annotations

import urllib.request
from collections import defaultdict
from collections.abc import Mapping, Sequence

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


def render(
    samples: Samples,
    sent: int,
    elapsed: float,
    workers: int,
    feeds: Mapping[str, Sequence[FeedItem]] | None = None,
) -> str:
    """The live screen (pure: samples and the banks' latest feed items in, text out)."""
    events = _by(samples, "creditstream_events_in_total", "platform")
    rejects = _by(samples, "creditstream_rejects_total", "reason")
    rejects_by_platform = _by(samples, "creditstream_rejects_total", "platform")
    alerts = _by(samples, "creditstream_alerts_total", "kind")
    ready = _by(samples, "creditstream_ready", "stage")
    batches = samples.get("creditstream_ingress_batch_duration_seconds_count", {})
    batch_sum = samples.get("creditstream_ingress_batch_duration_seconds_sum", {})
    n_batches, t_batches = sum(batches.values()), sum(batch_sum.values())
    lines = [
        f"creditstream demo — {elapsed:5.0f}s, {workers} worker(s), simulator sent {sent} records",
        "stages ready: "
        + (", ".join(f"{k} {'yes' if v else 'no'}" for k, v in sorted(ready.items())) or "—"),
        "",
        f"{'platform':<22}{'events in':>10}{'rejected':>10}",
    ]
    for platform in sorted(set(events) | set(rejects_by_platform)):
        ev, rj = events.get(platform, 0), rejects_by_platform.get(platform, 0)
        lines.append(f"{platform:<22}{ev:>10.0f}{rj:>10.0f}")
    lines += ["", "rejects by reason: " + (_pairs(rejects) or "none yet")]
    updates = sum(samples.get("creditstream_profile_updates_total", {}).values())
    lines += [f"profiles updated: {updates:.0f}", "alerts: " + (_pairs(alerts) or "none yet")]
    if n_batches:
        mean_ms = 1000 * t_batches / n_batches
        lines.append(f"ingress: {n_batches:.0f} batches, mean {mean_ms:.0f} ms per batch")
    lines += _feed_panel(samples, feeds or {})
    lines += ["", "Ctrl-C stops everything."]
    return "\n".join(lines)


def _feed_panel(samples: Samples, feeds: Mapping[str, Sequence[FeedItem]]) -> list[str]:
    """Deliveries per bank (metered, from /metrics) and each bank's last feed records."""
    delivered = _by(samples, "creditstream_feed_deliveries_total", "bank")
    latency_sum = _by(samples, "creditstream_event_to_feed_latency_seconds_sum", "bank")
    latency_n = _by(samples, "creditstream_event_to_feed_latency_seconds_count", "bank")
    lines = ["", "bank feeds: " + (_pairs(delivered) or "no deliveries yet")]
    for bank in sorted(set(feeds) | set(delivered)):
        n = latency_n.get(bank, 0)
        mean = f", event-to-feed mean {1000 * latency_sum.get(bank, 0) / n:.0f} ms" if n else ""
        lines.append(f"{bank}: {delivered.get(bank, 0):.0f} deliveries{mean}")
        for item in list(feeds.get(bank, ()))[-FEED_LINES:]:
            line = "  " + format_item(item)
            lines.append(line if len(line) <= LINE_MAX else line[: LINE_MAX - 1] + "…")
    return lines


def _pairs(d: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.0f}" for k, v in sorted(d.items(), key=lambda kv: -kv[1]))

"""The demo's screen in a terminal: one layout, redrawn in place (Rich).

Contract: :func:`layout` draws a :class:`~streams.commands.demo.screen.Screen` (the same
figures as the plain text of ``render``) as panels: a header (time, workers, records
sent, stages ready, the status page's address), the platforms' table (events in,
rejected, reject share), rejects by reason and the fold's figures, and one panel per
bank (deliveries, mean event-to-feed latency, its last feed records). :class:`LiveScreen`
owns the terminal while the demo runs: Rich's alternate screen, so each refresh
replaces the last one and the shell's screen comes back on exit (Ctrl-C included).
Pure but for :class:`LiveScreen`'s terminal.
"""

from __future__ import annotations

from types import TracebackType

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from streams.commands.demo.screen import Screen, pairs


def layout(sc: Screen, status_url: str) -> RenderableType:
    """The live layout of one refresh."""
    ready = ", ".join(
        f"[green]{k}[/]" if v else f"[yellow]{k} (starting)[/]" for k, v in sorted(sc.ready.items())
    )
    head = Text.from_markup(
        f"[bold]creditstream demo[/]  {sc.elapsed:4.0f}s · {sc.workers} worker(s) · "
        f"simulator sent {sc.sent} records · stages: {ready or '—'}\n"
        f"status page: [underline]{status_url}[/] · Ctrl-C stops everything"
    )
    platforms = Table(expand=True, box=None, header_style="bold")
    for name, justify in (("platform", "left"), ("events in", "right"), ("rejected", "right")):
        platforms.add_column(name, justify=justify)  # type: ignore[arg-type]
    platforms.add_column("share", justify="right")
    for platform, events, rejected in sc.platforms:
        share = rejected / (events + rejected) if events + rejected else 0.0
        platforms.add_row(platform, f"{events:.0f}", f"{rejected:.0f}", f"{share:.1%}")
    mean = f", mean {sc.batches[1]:.0f} ms" if sc.batches[0] else ""
    fold = Text(
        f"rejects by reason: {pairs(sc.rejects) or 'none yet'}\n"
        f"profiles updated: {sc.updates:.0f} · alerts: {pairs(sc.alerts) or 'none yet'}\n"
        f"ingress batches: {sc.batches[0]:.0f}{mean}"
    )
    banks = [
        Panel(
            Text("\n".join(lines) or "no feed records yet", no_wrap=True, overflow="ellipsis"),
            title=f"{bank}: {n:.0f} deliveries"
            + (f", event-to-feed mean {latency:.0f} ms" if latency is not None else ""),
            title_align="left",
        )
        for bank, n, latency, lines in sc.banks
    ]
    return Group(
        Panel(head),
        Panel(platforms, title="platforms", title_align="left"),
        Panel(fold, title="the exchange", title_align="left"),
        *(banks or [Panel("no bank has subscribed yet", title="bank feeds")]),
    )


class LiveScreen:
    """The terminal while the demo runs (a context manager): :meth:`show` redraws."""

    def __init__(self, console: Console | None = None) -> None:
        self._live = Live(console=console or Console(), auto_refresh=False, screen=True)

    def __enter__(self) -> LiveScreen:
        self._live.__enter__()
        return self

    def show(self, sc: Screen, status_url: str) -> None:
        self._live.update(layout(sc, status_url), refresh=True)

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._live.__exit__(kind, exc, tb)

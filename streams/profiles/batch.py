"""One batch of events through the profile fold, coalesced per borrower (pure).

No Kafka import: the stage hands in decoded events (:class:`~streams.profiles.events.Op`,
with their input partition) and a way to load a borrower's entry; this returns what to
write. Per borrower per batch:

* every event is applied in arrival order (``streams.profile.apply_*``: dedup,
  corrections and out-of-order are its business), alerts are collected in that order;
* ONE view as of ``now_ms`` (the read time: windows end there) decides the emits;
* the state record is always written (even duplicates can move provenance);
* the profile goes to ``exchange.profiles`` when it is the first or materially changed
  (``material_view``) versus the last *emitted* one;
* a ``ProfileUpdate`` goes to ``exchange.profile-updates`` when the profile went out or
  alerts were raised, so an alert never depends on the compacted topic.

Versions on the updates are the state's ``profile_version`` after the batch, so they
only grow per borrower. Coalescing is what amortizes the view and the encodes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from streams.alerts import Alert
from streams.models import ExchangeEvent
from streams.profile import ProfileConfig, apply_activity, apply_loan
from streams.profile_view import material_view, view
from streams.profiles.events import Op, op_of
from streams.profiles.records import Entry, OutputEncoder, entry_to_bytes


@dataclass(slots=True)
class Touched:
    """A borrower changed in this batch."""

    entry: Entry
    partition: int
    alerts: list[Alert] = field(default_factory=list)
    last_ingested_ms: int = 0
    events: int = 0


@dataclass(slots=True)
class Emit:
    """What one borrower's batch writes: always ``state``; ``profile``/``update`` or None."""

    borrower_id: str
    partition: int  # input partition; the state record goes to the same changelog partition
    state: bytes
    profile: bytes | None
    update: bytes | None
    version: int
    alerts: list[Alert]
    entry: Entry  # the entry after the batch (the store keeps it once committed)


Loader = Callable[[int, str], Entry]


def fold_ops(ops: Iterable[Op], load: Loader, config: ProfileConfig) -> dict[str, Touched]:
    """Apply decoded events to their borrowers' entries (mutated in place)."""
    touched: dict[str, Touched] = {}
    for partition, bid, ingested, is_loan, args in ops:
        t = touched.get(bid)
        if t is None:
            t = touched[bid] = Touched(load(partition, bid), partition)
        # Op.args are the positional parameters between state and config (see events).
        if is_loan:
            alerts = apply_loan(t.entry.state, *args, config=config)  # type: ignore[misc]
            if alerts:
                t.alerts.extend(alerts)
        else:  # activity never raises alerts
            apply_activity(t.entry.state, *args, config=config)  # type: ignore[misc]
        t.last_ingested_ms = max(t.last_ingested_ms, ingested)
        t.events += 1
    return touched


def decide(
    touched: dict[str, Touched], now_ms: int, config: ProfileConfig, encoder: OutputEncoder
) -> list[Emit]:
    """The outputs of every touched borrower, as of ``now_ms``."""
    out: list[Emit] = []
    for bid, t in touched.items():
        entry = t.entry
        v = view(entry.state, now_ms, config)
        material = material_view(entry.emitted, v, config)
        profile_bytes = update = None
        if material or t.alerts:
            profile_bytes = encoder.profile(v)
            update = encoder.update(bid, v, profile_bytes, material, t.last_ingested_ms, t.alerts)
            if material:
                entry.emit(v, encoder.body_of(profile_bytes))
            else:
                profile_bytes = None  # only material changes go to the compacted topic
        out.append(
            Emit(
                bid,
                t.partition,
                entry_to_bytes(entry),
                profile_bytes,
                update,
                v[4],
                t.alerts,
                entry,
            )
        )
    return out


def process_ops(
    ops: Iterable[Op], load: Loader, now_ms: int, config: ProfileConfig, encoder: OutputEncoder
) -> list[Emit]:
    """Fold a batch and decide its outputs (the entries are mutated: on an aborted
    transaction the caller must drop them and reload from committed bytes)."""
    return decide(fold_ops(ops, load, config), now_ms, config, encoder)


def process_batch(
    events: Iterable[tuple[int, ExchangeEvent]],
    load: Loader,
    now_ms: int,
    config: ProfileConfig,
    encoder: OutputEncoder,
) -> list[Emit]:
    """:func:`process_ops` of ``(partition, event)`` pairs."""
    ops = [op_of(p, ev) for p, ev in events]
    return process_ops(ops, load, now_ms, config, encoder)

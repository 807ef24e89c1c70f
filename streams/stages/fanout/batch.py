"""One batch of the fan-out: profile changes and consent requests -> feeds and state (pure).

No Kafka import: the stage hands in decoded inputs with their partition, in arrival
order, and a way to load a borrower's committed entry; this returns what to write.

* A :class:`ProfileChange` (one ``ProfileUpdate``) whose version is not newer than the
  entry's was already applied (a re-read after a failover) and is skipped. Otherwise it
  becomes the entry's view and version, and every subscription *active at* ``now_ms``
  gets its delivery (``streams.domain.delivery.deliveries``: alerts always, a profile update when
  material). The view is rendered once per change that is delivered, and once per
  borrower per batch for the state otherwise.
* A :class:`~streams.wire.consents.ConsentRequest` is applied to the entry
  (``streams.domain.consent.apply_request``) and answered: an accepted SUBSCRIBE with the
  current snapshot (audited) or ``NO_DATA_YET``, a REVOKE with a bare ack, else a reject.
* Every touched entry, and every ``due`` one, drops its expired subscriptions
  (``streams.domain.consent.drop_expired``): state stays small, and delivery never depended on it.
* Each changed entry yields its new state record (None = tombstone) and the earliest
  expiry it still holds.

Deliveries carry their input partition: audit records are sealed by that partition's
chain and written to the same partition of ``exchange.audit`` (one writer per chain).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from streams.domain.consent import active, apply_request, drop_expired, next_expiry
from streams.domain.delivery import Delivery, answer_deliveries, bank_view, deliveries
from streams.domain.validation import to_epoch_ms
from streams.stages.fanout.state import FanoutEntry, fanout_entry_to_bytes
from streams.wire.consents import ConsentRequest


@dataclass(frozen=True, slots=True)
class ProfileChange:
    """A decoded ``io.creditstream.ProfileUpdate`` (``profile``: the Avro datum)."""

    borrower_id: str
    version: int
    material: bool
    ingested_at_ms: int
    alerts: Sequence[Mapping[str, Any]]
    profile: Mapping[str, Any]


def change_from_datum(datum: Mapping[str, Any]) -> ProfileChange:
    """A :class:`ProfileChange` from a decoded ProfileUpdate datum."""
    return ProfileChange(
        borrower_id=str(datum["borrower_id"]),
        version=int(datum["profile_version"]),
        material=bool(datum["material"]),
        ingested_at_ms=to_epoch_ms(datum["last_ingested_at"]),
        alerts=list(datum["alerts"]),
        profile=datum["profile"],
    )


Item = tuple[int, ProfileChange | ConsentRequest]
Loader = Callable[[int, str], FanoutEntry]


@dataclass(slots=True)
class Outcome:
    """What a batch writes, in order, and what it did."""

    deliveries: list[tuple[int, Delivery]] = field(default_factory=list)  # (partition, d)
    #: borrower_id -> (partition, state record or None, earliest expiry left or None)
    states: dict[str, tuple[int, bytes | None, int | None]] = field(default_factory=dict)
    changes: int = 0
    requests: int = 0
    stale: int = 0  # profile changes already applied (skipped)
    expired: int = 0  # subscriptions pruned


class _Batch:
    def __init__(self, load: Loader, now_ms: int) -> None:
        self.load, self.now = load, now_ms
        self.work: dict[str, tuple[int, FanoutEntry]] = {}
        self.pending: dict[str, Mapping[str, Any]] = {}  # profile not yet rendered
        self.dirty: set[str] = set()
        self.out = Outcome()

    def entry(self, partition: int, bid: str) -> FanoutEntry:
        found = self.work.get(bid)
        if found is None:
            found = self.work[bid] = (partition, self.load(partition, bid))
        return found[1]

    def view(self, bid: str, entry: FanoutEntry) -> str | None:
        profile = self.pending.pop(bid, None)
        if profile is not None:
            entry.view = bank_view(profile)
        return entry.view

    def change(self, partition: int, c: ProfileChange) -> None:
        entry = self.entry(partition, c.borrower_id)
        self.out.changes += 1
        if c.version <= entry.version:
            self.out.stale += 1
            return
        entry.version = c.version
        self.dirty.add(c.borrower_id)
        if not active(entry.subs, self.now):
            self.pending[c.borrower_id] = c.profile  # rendered once, at the end
            return
        self.pending.pop(c.borrower_id, None)
        view = entry.view = bank_view(c.profile)
        found = deliveries(
            c.borrower_id,
            view,
            c.version,
            c.alerts,
            entry.subs,
            self.now,
            c.ingested_at_ms,
            material=c.material,
        )
        self.out.deliveries += [(partition, d) for d in found]

    def request(self, partition: int, req: ConsentRequest) -> None:
        bid = req.borrower_id
        entry = self.entry(partition, bid)
        self.out.requests += 1
        view = self.view(bid, entry)
        subs, answer = apply_request(entry.subs, req, self.now)
        entry.subs = dict(subs)
        self.dirty.add(bid)
        found = answer_deliveries(answer, bid, view, entry.version, self.now)
        self.out.deliveries += [(partition, d) for d in found]

    def finish(self) -> Outcome:
        for bid, (partition, entry) in self.work.items():
            kept, gone = drop_expired(entry.subs, self.now)
            if gone:
                entry.subs = dict(kept)
                self.out.expired += len(gone)
                self.dirty.add(bid)
            if bid in self.dirty:
                self.view(bid, entry)
                record = fanout_entry_to_bytes(entry)
                self.out.states[bid] = (partition, record, next_expiry(entry.subs))
        return self.out


def process_batch(
    items: Iterable[Item], due: Iterable[tuple[int, str]], load: Loader, now_ms: int
) -> Outcome:
    """Apply ``items`` in order, prune ``due`` borrowers (see the module docstring)."""
    batch = _Batch(load, now_ms)
    for partition, item in items:
        if isinstance(item, ProfileChange):
            batch.change(partition, item)
        else:
            batch.request(partition, item)
    for partition, bid in due:
        batch.entry(partition, bid)
    return batch.finish()

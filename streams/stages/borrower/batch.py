"""One batch of the borrower stage: events, consents and rights requests in, everything
out (pure).

No Kafka import: the stage hands in the batch's decoded consent requests and events
(each with its input partition, in arrival order) and a way to load a borrower's
entry; this returns what to write. Per batch:

1. **Requests first**, in arrival order (``streams.domain.consent.apply_request``),
   each answered on the bank's feed: an accepted SUBSCRIBE with the snapshot of the
   borrower's last ``ProfileUpdate`` (audited) or ``NO_DATA_YET``, a REVOKE with a bare
   ack, anything else with a reject (``streams.domain.delivery.answer_deliveries``).
   Taking the batch's requests before its events is one of the orders the two-hop
   exchange could also produce (the stages raced): a new subscriber gets the snapshot
   and then this batch's change, a revoked one gets nothing more. A consent that ends
   after the bank received data is remembered for correction notices.
2. **Rights**: the borrowers' requests (objections opened or refused, erasures) and
   the objections whose deadline has passed (the ``due`` entries), through
   ``streams.stages.borrower.rights``: each makes the borrower's profile go out as a
   new version in step 3, marked while an objection is open.
3. **Events**, folded per borrower (``fold.process_ops``: one view per borrower per
   batch, the material-change rule, the encodes of ``exchange.profiles`` and
   ``exchange.profile-updates``). Every update (material or alerts) goes to each
   subscription *active at* ``now_ms`` (``streams.domain.delivery.deliveries``:
   consent is checked at delivery time); the bank view is rendered once per update,
   and only when some subscription is active. A correction of a disputed loan answers
   the objection; banks whose consent ended get a correction notice for each objection
   closed. A borrower erased to nothing gets ``ERASED`` on the consented banks' feeds
   and a tombstone on ``exchange.profiles``.
4. **Expiry and state**: every touched entry, and every ``due`` one, drops its expired
   subscriptions (hygiene: delivery never depended on it); each changed entry yields
   its state record (None: a tombstone) and when it is next due (a subscription's
   expiry or an objection's deadline).

Deliveries carry their input partition: audit records are sealed by that partition's
chain and written to the same partition of ``exchange.audit`` (one writer per chain).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from streams.domain.consent import active, apply_request, drop_expired, next_expiry
from streams.domain.delivery import (
    Delivery,
    FeedView,
    answer_deliveries,
    deliveries,
    erased_records,
)
from streams.domain.profile.state import new_state
from streams.domain.profile.windows import ProfileConfig
from streams.domain.rights import (
    DEFAULT_POLICY,
    Dispute,
    RightsPolicy,
    holds_data,
    marks,
    prune_rights,
    record_ended,
)
from streams.stages.borrower.entry import BorrowerEntry, borrower_entry_to_bytes
from streams.stages.borrower.events import Op
from streams.stages.borrower.fold import Emit, emit_of, process_ops
from streams.stages.borrower.records import OutputEncoder
from streams.stages.borrower.requests import RightsRequest
from streams.stages.borrower.rights import BatchRights, PlatformRecord
from streams.wire.consents import ConsentRequest

Loader = Callable[[int, str], BorrowerEntry]
Request = tuple[int, ConsentRequest]  # (input partition, request)


@dataclass(slots=True)
class Outcome:
    """What a batch writes, in order, and what it did."""

    emits: list[Emit] = field(default_factory=list)  # profiles and updates, per borrower
    deliveries: list[tuple[int, Delivery]] = field(default_factory=list)  # (partition, d)
    #: borrower_id -> (partition, state record or None, when it is next due or None)
    states: dict[str, tuple[int, bytes | None, int | None]] = field(default_factory=dict)
    #: (topic, dispute id, ``Dispute`` datum) for the platforms' disputes topics
    disputes: list[PlatformRecord] = field(default_factory=list)
    #: ``RightExercised`` datums for exchange.rights-log
    rights_log: list[dict[str, Any]] = field(default_factory=list)
    #: borrowers whose exchange.profiles record goes (erased to nothing)
    tombstones: list[str] = field(default_factory=list)
    requests: int = 0
    expired: int = 0  # subscriptions pruned
    rights_requests: int = 0  # objections and erasures read
    refused: list[str] = field(default_factory=list)  # platforms of refused objections
    closed: list[Dispute] = field(default_factory=list)  # answered or expired


def render(
    entry: BorrowerEntry, config: ProfileConfig, policy: RightsPolicy = DEFAULT_POLICY
) -> FeedView | None:
    """The bank-facing profile of the entry's last update, marked with its open
    disputes (None before any update)."""
    if entry.last is None:
        return None
    return FeedView(entry.last, marks(entry.rights, policy), config)


def process_batch(
    requests: Iterable[Request],
    ops: Iterable[Op],
    due: Iterable[tuple[int, str]],
    load: Loader,
    now_ms: int,
    config: ProfileConfig,
    encoder: OutputEncoder,
    rights_requests: Iterable[tuple[int, RightsRequest]] = (),
    policy: RightsPolicy = DEFAULT_POLICY,
) -> Outcome:
    """Apply the batch (see the module docstring). The loaded entries are mutated: on
    an aborted transaction the caller drops them and reloads committed bytes."""
    out = Outcome()
    work: dict[str, tuple[int, BorrowerEntry]] = {}
    dirty: set[str] = set()
    rights = BatchRights(now_ms, policy)
    for partition, req in requests:
        bid = req.borrower_id
        entry = load(partition, bid)
        work[bid] = (partition, entry)
        out.requests += 1
        subs, answer = apply_request(entry.subs, req, now_ms)
        if entry.last is not None:  # the banks it ends had received data
            gone = [s for b, s in entry.subs.items() if subs.get(b) is not s]
            entry.rights = record_ended(entry.rights, gone, now_ms)
        entry.subs = dict(subs)
        dirty.add(bid)
        found = answer_deliveries(
            answer, bid, render(entry, config, policy), entry.last_version, now_ms
        )
        out.deliveries += [(partition, d) for d in found]
    for partition, rreq in rights_requests:
        bid = rreq.borrower_id
        entry = load(partition, bid)
        work[bid] = (partition, entry)
        out.rights_requests += 1
        rights.request(partition, entry, rreq)
        dirty.add(bid)
    for partition, bid in due:
        if bid not in work:
            work[bid] = (partition, load(partition, bid))
        rights.deadlines(partition, bid, work[bid][1])
    out.emits = process_ops(ops, load, now_ms, config, encoder, rights, rights.forced)
    emitted = {e.borrower_id for e in out.emits}
    out.emits += [
        emit_of(bid, partition, entry, (), now_ms, now_ms, config, encoder, force=True)
        for bid, (partition, entry) in rights.forced.items()
        if bid not in emitted
    ]
    for e in out.emits:
        entry = e.entry
        work[e.borrower_id] = (e.partition, entry)
        dirty.add(e.borrower_id)
        if e.borrower_id in rights.emptied and not holds_data(entry.state):
            _emptied(e, out, now_ms)
            continue
        if e.view is None or not active(entry.subs, now_ms):
            continue
        view = FeedView(e.view, marks(entry.rights, policy), config, e.body)
        found = deliveries(
            e.borrower_id,
            view,
            e.version,
            e.alerts,
            entry.subs,
            now_ms,
            e.ingested,
            material=e.material,
        )
        out.deliveries += [(e.partition, d) for d in found]
    out.deliveries += rights.notices()
    out.disputes, out.refused, out.rights_log = rights.platform, rights.refused, rights.log
    out.closed = [d for _, _, _, d in rights.closed]
    for bid, (partition, entry) in work.items():
        kept, gone = drop_expired(entry.subs, now_ms)
        if gone:
            entry.subs = dict(kept)
            out.expired += len(gone)
            if entry.last is not None:
                entry.rights = record_ended(entry.rights, gone, now_ms)
            dirty.add(bid)
        if bid not in dirty:
            continue
        if entry.rights is None and bid not in rights.emptied:  # nearly everyone
            due_at = next_expiry(entry.subs) if entry.subs else None
            out.states[bid] = (partition, borrower_entry_to_bytes(entry), due_at)
            continue
        if entry.rights is not None:
            entry.rights = prune_rights(entry.rights, now_ms, policy)
        if bid in rights.emptied and not entry.subs and not holds_data(entry.state):
            # Erased to nothing: the entry goes (the cache holds a new, empty one).
            entry.state, entry.rights, entry.last_version = new_state(bid), None, 0
            out.states[bid] = (partition, None, None)
        else:
            out.states[bid] = (partition, borrower_entry_to_bytes(entry), entry.next_due())
    return out


def _emptied(e: Emit, out: Outcome, now_ms: int) -> None:
    """An erasure left nothing: ``ERASED`` to the banks holding consent, a tombstone on
    exchange.profiles, no update; a later subscriber is answered ``NO_DATA_YET``."""
    entry = e.entry
    e.profile = e.update = None
    out.tombstones.append(e.borrower_id)
    out.deliveries += [(e.partition, d) for d in erased_records(entry.subs, e.version, now_ms)]
    entry.emitted = entry.last = None

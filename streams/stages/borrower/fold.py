"""A batch's events through the profile fold, coalesced per borrower (pure).

The profile half of the borrower batch (``streams.stages.borrower.batch``). No Kafka
import: the caller hands in decoded events (:data:`~streams.stages.borrower.events.Op`,
with their input partition) and a way to load a borrower's entry; this returns what to
write. Per borrower per batch:

* every event is applied in arrival order (``streams.domain.profile.fold.apply_*``: dedup,
  corrections and out-of-order are its business), alerts are collected in that order;
  a borrower is taken start to finish (fold, view, encodes) before the next one;
* ONE view as of ``now_ms`` (the read time: windows end there) decides the emits;
* the entry is always rewritten (even duplicates can move provenance);
* the profile goes to ``exchange.profiles`` when it is the first or materially changed
  (``material_view``) versus the last *emitted* one;
* a ``ProfileUpdate`` goes to ``exchange.profile-updates`` when the profile went out or
  alerts were raised, so an alert never depends on the compacted topic;
* an aggregate amount that outgrew the schemas' ``decimal(18, 2)`` (two valid
  disbursements can) is published clamped to the largest value (``saturate_money``) and
  flagged on the :class:`Emit`, to be counted and alerted: one borrower's numbers must
  not stop every bank's feed. The fold state keeps the exact sums.

Versions on the updates are the state's ``profile_version`` after the batch, so they
only grow per borrower. Coalescing is what amortizes the view and the encodes.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from streams.domain.profile.alerts import Alert
from streams.domain.profile.fold import apply_activity, apply_loan
from streams.domain.profile.model import V_VERSION, View, saturate_money
from streams.domain.profile.output import material_view
from streams.domain.profile.view import view
from streams.domain.profile.windows import ProfileConfig
from streams.stages.borrower.binary import AmountOverflowError
from streams.stages.borrower.entry import BorrowerEntry
from streams.stages.borrower.events import (
    ACT_AMOUNT,
    ACT_CURRENCY,
    ACT_KIND,
    LOAN_CORRECTS,
    LOAN_CURRENCY,
    LOAN_DPD,
    LOAN_DUE_DAY,
    LOAN_ID,
    LOAN_LENDER,
    LOAN_PRINCIPAL,
    LOAN_TYPE,
    OP_BORROWER,
    OP_EVENT_ID,
    OP_INGESTED,
    OP_IS_LOAN,
    OP_PARTITION,
    OP_PLATFORM,
    OP_T,
    Op,
    op_of,
)
from streams.stages.borrower.records import OutputEncoder
from streams.wire.events import ExchangeEvent

NO_ALERTS: tuple[Alert, ...] = ()


@dataclass(slots=True, init=False)
class Emit:
    """What one borrower's events did: ``profile``/``update`` to write or None, and
    the update's view (``view``, clamped if ``saturated``) for the deliveries. Built by
    hand like :class:`~streams.wire.events.LoanFacts` (mypyc compiles the init)."""

    borrower_id: str
    partition: int  # input partition; the state record goes to the same changelog partition
    profile: bytes | None
    update: bytes | None
    version: int
    alerts: Sequence[Alert]
    entry: BorrowerEntry  # the entry after the batch (the store keeps it once committed)
    ingested: int  # the newest ingestion time of the borrower's events in the batch
    material: bool  # the profile went to exchange.profiles
    view: View | None  # the view the update carries (None: no update)
    saturated: bool  # an amount outgrew decimal(18, 2): published clamped
    body: bytes | None  # the Avro body of the view's BorrowerProfile (the feeds')

    def __init__(
        self,
        borrower_id: str,
        partition: int,
        profile: bytes | None,
        update: bytes | None,
        version: int,
        alerts: Sequence[Alert],
        entry: BorrowerEntry,
        ingested: int,
        material: bool,
        view: View | None,
        saturated: bool = False,
        body: bytes | None = None,
    ) -> None:
        self.borrower_id = borrower_id
        self.partition = partition
        self.profile = profile
        self.update = update
        self.version = version
        self.alerts = alerts
        self.entry = entry
        self.ingested = ingested
        self.material = material
        self.view = view
        self.saturated = saturated
        self.body = body


Loader = Callable[[int, str], BorrowerEntry]


def group_ops(ops: Iterable[Op]) -> dict[str, Op | list[Op]]:
    """Events per borrower in arrival order, borrowers in order of first appearance (a
    borrower's only event is kept as is: most borrowers have one per batch)."""
    groups: dict[str, Op | list[Op]] = {}
    for op in ops:
        bid = op[OP_BORROWER]
        got = groups.get(bid)
        if got is None:
            groups[bid] = op
        elif isinstance(got, list):
            got.append(op)
        else:
            groups[bid] = [got, op]
    return groups


def fold(entry: BorrowerEntry, ops: list[Op], config: ProfileConfig) -> tuple[list[Alert], int]:
    """Apply ``ops`` (one borrower's) to ``entry`` in order; returns the alerts raised,
    in order, and the newest ingestion time."""
    state = entry.state
    alerts: list[Alert] = []
    ingested = 0
    for op in ops:
        if op[OP_IS_LOAN]:
            raised = apply_loan(
                state, op[OP_PLATFORM], op[OP_EVENT_ID], op[OP_T], op[LOAN_TYPE], op[LOAN_ID],
                op[LOAN_LENDER], op[LOAN_CURRENCY], op[LOAN_PRINCIPAL], op[LOAN_DPD],
                op[LOAN_DUE_DAY], op[LOAN_CORRECTS], config,
            )  # fmt: skip
            if raised:
                alerts += raised
        else:  # activity never raises alerts
            apply_activity(
                state, op[OP_PLATFORM], op[OP_EVENT_ID], op[OP_T], op[ACT_KIND],
                op[ACT_CURRENCY], op[ACT_AMOUNT], config,
            )  # fmt: skip
        ingested = max(ingested, op[OP_INGESTED])
    return alerts, ingested


class RightsHook(Protocol):
    """What the borrower's rights do around the fold (``streams.stages.borrower.rights``),
    called only for an entry that holds rights: ``before`` the borrower's events fold,
    ``after`` (with them and what ``before`` returned), which says whether the profile
    must go out whatever the material-change rule says."""

    def before(self, entry: BorrowerEntry) -> object: ...

    def after(self, entry: BorrowerEntry, partition: int, ops: list[Op], token: object) -> bool: ...


def process_ops(
    ops: Iterable[Op],
    load: Loader,
    now_ms: int,
    config: ProfileConfig,
    encoder: OutputEncoder,
    rights: RightsHook | None = None,
    forced: Collection[str] = (),
) -> list[Emit]:
    """Fold a batch and decide its outputs, one borrower at a time, start to finish
    (its state stays in the CPU caches). A borrower in ``forced`` (a right was
    exercised) has its profile go out even when not materially changed. The entries
    are mutated: on an aborted transaction the caller must drop them and reload from
    committed bytes."""
    out: list[Emit] = []
    append = out.append
    for bid, group in group_ops(ops).items():
        its = group if isinstance(group, list) else [group]
        first = its[0]
        partition = first[OP_PARTITION]
        entry = load(partition, bid)
        force = bid in forced
        token = None if rights is None or entry.rights is None else rights.before(entry)
        if len(its) == 1 and not first[OP_IS_LOAN]:  # one activity event: no alerts
            apply_activity(
                entry.state, first[OP_PLATFORM], first[OP_EVENT_ID], first[OP_T],
                first[ACT_KIND], first[ACT_CURRENCY], first[ACT_AMOUNT], config,
            )  # fmt: skip
            alerts: Sequence[Alert] = NO_ALERTS
            ingested = first[OP_INGESTED]
        else:
            alerts, ingested = fold(entry, its, config)
        if token is not None:
            assert rights is not None
            force = rights.after(entry, partition, its, token) or force
        append(emit_of(bid, partition, entry, alerts, ingested, now_ms, config, encoder, force))
    return out


def emit_of(
    bid: str,
    partition: int,
    entry: BorrowerEntry,
    alerts: Sequence[Alert],
    ingested: int,
    now_ms: int,
    config: ProfileConfig,
    encoder: OutputEncoder,
    force: bool = False,
) -> Emit:
    """The outputs of ``entry`` as of ``now_ms`` (its view; ``force``: emitted even
    when not materially changed, e.g. a dispute marked it)."""
    v = view(entry.state, now_ms, config)
    material = force or material_view(entry.emitted, v, config)
    profile = update = body = None
    sent: View | None = None
    saturated = False
    if material or alerts:
        try:
            profile = encoder.profile(v)
        except AmountOverflowError:
            v, saturated = saturate_money(v), True
            profile = encoder.profile(v)
        update = encoder.update(bid, v, profile, material, ingested, alerts)
        body = encoder.body_of(profile)
        entry.updated(v, material)
        sent = v
        if not material:
            profile = None  # only material changes go to the compacted topic
    return Emit(
        bid, partition, profile, update, v[V_VERSION], alerts, entry, ingested, material, sent,
        saturated, body,
    )  # fmt: skip


def process_events(
    events: Iterable[tuple[int, ExchangeEvent]],
    load: Loader,
    now_ms: int,
    config: ProfileConfig,
    encoder: OutputEncoder,
) -> list[Emit]:
    """:func:`process_ops` of ``(partition, event)`` pairs."""
    ops = [op_of(p, ev) for p, ev in events]
    return process_ops(ops, load, now_ms, config, encoder)

"""The persisted per-borrower profile state: layout, compact codec, pruning.

The state is what the profile fold keeps per borrower, NOT the read model: derived
features are computed on read (``streams.domain.profile.fold.snapshot``) so windows roll and the
result does not depend on arrival order. It holds:

* loan events as *effective records* (a correction's facts already applied), grouped by
  loan (``platform \\0 loan_id``) and sorted by ``(occurred_at, dedup key)``;
* per loan a sticky mask of the event types ever seen and the first disbursement time,
  so pruning old records cannot make a loan look new again;
* corrections whose target has not arrived yet (they are applied when it does);
* activity as UTC-day buckets (count, per-currency sums, travel count, the dedup keys of
  that day), so activity dedup memory ages out with its bucket;
* provenance: contributing platforms, first seen, newest event time, version;
* the dedup keys of events that arrived *stale* (older than the newest event by more
  than their kind's horizon), kept until they leave the negative-data retention.

Everything is built from ``int``/``str``/``list``/``dict``/``set``/``tuple`` so that
``marshal`` (the fastest stdlib codec, measured in ``bench/bench_profile.py``) can encode
it. The bytes start with a format byte; the changelog is written only by the exchange,
so it is trusted input (``marshal`` must never decode foreign bytes). Format 2 added the
last field (``stale``); a format-1 field tuple (12 fields, no ``stale``) still reads,
as an empty memory (:class:`ProfileState` accepts both lengths, so the stage's records,
``streams.stages.borrower.records``, which hold the field tuple itself, read too).
"""

from __future__ import annotations

import marshal
from decimal import Decimal
from typing import Any, Final

from streams.domain.profile.model import ActivityMemo, CreditMemo
from streams.wire.events import LoanEventType

FORMAT = 2
_FORMAT_BYTE = bytes([FORMAT])
_READS = frozenset({1, FORMAT})  # format 1: no ``stale`` field (read as empty)

# Loan event type codes (stable: they are persisted).
T_CODE: dict[LoanEventType, int] = {t: i for i, t in enumerate(LoanEventType)}
APPLICATION = T_CODE[LoanEventType.APPLICATION]
APPROVAL = T_CODE[LoanEventType.APPROVAL]
DECLINE = T_CODE[LoanEventType.DECLINE]
DISBURSEMENT = T_CODE[LoanEventType.DISBURSEMENT]
REPAYMENT = T_CODE[LoanEventType.REPAYMENT]
OVERDUE = T_CODE[LoanEventType.OVERDUE]
DEFAULT = T_CODE[LoanEventType.DEFAULT]
WRITE_OFF = T_CODE[LoanEventType.WRITE_OFF]
CLOSURE = T_CODE[LoanEventType.CLOSURE]
CORRECTION = T_CODE[LoanEventType.CORRECTION]
# Types that are not reports on a running account (no payment status).
NON_SERVICING = frozenset({APPLICATION, APPROVAL, DECLINE})
# Latest-record types that leave a loan open whatever its principal (see loan_status).
OPEN_TYPES = frozenset({DISBURSEMENT, OVERDUE, DEFAULT})
NEGATIVE_MASK = (1 << DEFAULT) | (1 << WRITE_OFF)

# Effective loan record: (t, ekey, type, lender, currency, principal, dpd, due_day,
# corr_t, corr_key); corr_t is -1 when uncorrected, due_day -1 when unknown.
R_T: Final = 0
R_KEY: Final = 1
R_TYPE: Final = 2
R_LENDER: Final = 3
R_CUR: Final = 4
R_PRINCIPAL: Final = 5
R_DPD: Final = 6
R_DUE: Final = 7
R_CT: Final = 8
R_CKEY: Final = 9
Record = tuple[int, str, int, str, str, str, int, int, int, str]
# Pending correction: (corr_t, corr_key, loan_id, lender, currency, principal, dpd, due).
Pending = tuple[int, str, str, str, str, str, int, int]
# A loan: [type mask (sticky), first disbursement ms or -1, sorted records].
Loan = list[Any]
L_MASK: Final = 0
L_FIRST_DISB: Final = 1
L_RECS: Final = 2
# Activity day bucket: [spend count, {currency: decimal str}, travel count, {dedup keys}].
Bucket = list[Any]

# Loan status derived from the latest record.
OPEN, PENDING, DECLINED, PAID, CLOSED, WRITTEN_OFF = range(6)


_FIELDS = (
    "borrower_id",
    "version",
    "watermark",
    "first_seen",
    "prune_day",
    "platforms",
    "act_platforms",
    "act_days",
    "loans",
    "lidx",
    "cseen",
    "pending",
    "stale",
)


class ProfileState:
    """Mutable per-borrower fold state. Create with :func:`new_state`.

    Three slots are not state but what was derived from it, neither persisted nor
    compared: ``streams.domain.profile.view`` memoizes reads of the loan side in
    ``credit_memo`` and of the activity side in ``activity_memo`` (both for the config
    in ``memo_config``); whatever may change a side (``streams.domain.profile.fold``'s
    ``apply_loan`` / ``apply_activity``, :func:`prune`) sets that side's memo to None
    first.
    """

    __slots__ = (
        "act_days",
        "act_platforms",
        "activity_memo",
        "borrower_id",
        "credit_memo",
        "cseen",
        "first_seen",
        "lidx",
        "loans",
        "memo_config",
        "pending",
        "platforms",
        "prune_day",
        "stale",
        "version",
        "watermark",
    )
    borrower_id: str
    version: int  # applied (distinct) events, stale ones included, + rights exercised
    watermark: int  # newest applied occurred_at_ms, -1 when empty
    first_seen: int  # oldest occurred_at_ms of any event seen, -1 when empty
    prune_day: int  # watermark day at the last pruning pass, -1 before the first
    platforms: dict[str, int]  # platform -> newest event ms (provenance)
    act_platforms: dict[str, int]  # platform -> newest activity ms
    act_days: dict[int, Bucket]
    loans: dict[str, Loan]
    lidx: dict[str, str]  # base-event dedup key -> loan key
    cseen: dict[str, int]  # correction dedup key -> occurred_at_ms
    pending: dict[str, Pending]  # target dedup key -> best correction so far
    stale: dict[str, int]  # dedup key of an event that arrived stale -> occurred_at_ms
    credit_memo: CreditMemo | None
    activity_memo: ActivityMemo | None
    memo_config: object

    def __init__(self, values: tuple[Any, ...]) -> None:
        """Build from the persisted field tuple (order of ``_FIELDS``; a format-1
        tuple, without the last field, reads with an empty ``stale``)."""
        self.credit_memo = self.activity_memo = self.memo_config = None
        if len(values) < len(_FIELDS):
            values = (*values, {})
        (
            self.borrower_id,
            self.version,
            self.watermark,
            self.first_seen,
            self.prune_day,
            self.platforms,
            self.act_platforms,
            self.act_days,
            self.loans,
            self.lidx,
            self.cseen,
            self.pending,
            self.stale,
        ) = values

    def as_tuple(self) -> tuple[Any, ...]:
        """The fields in persisted order."""
        return state_fields(self)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ProfileState) and self.as_tuple() == other.as_tuple()

    __hash__ = None  # type: ignore[assignment]


def new_state(borrower_id: str) -> ProfileState:
    """An empty state for ``borrower_id``."""
    return ProfileState((borrower_id, 0, -1, -1, -1, {}, {}, {}, {}, {}, {}, {}, {}))


def state_to_bytes(state: ProfileState) -> bytes:
    """Compact bytes of ``state`` (format byte + marshal); see :func:`state_from_bytes`."""
    return _FORMAT_BYTE + marshal.dumps(state_fields(state), 4)


def state_fields(state: ProfileState) -> tuple[Any, ...]:
    """The persisted fields of ``state`` in ``_FIELDS`` order (what
    :class:`ProfileState` is built from)."""
    return (
        state.borrower_id,
        state.version,
        state.watermark,
        state.first_seen,
        state.prune_day,
        state.platforms,
        state.act_platforms,
        state.act_days,
        state.loans,
        state.lidx,
        state.cseen,
        state.pending,
        state.stale,
    )


def state_from_bytes(data: bytes | memoryview) -> ProfileState:
    """Inverse of :func:`state_to_bytes`; raises ``ValueError`` on an unknown format."""
    if not data or data[0] not in _READS:
        raise ValueError(f"unknown profile state format {bytes(data[:1])!r}")
    return ProfileState(marshal.loads(memoryview(data)[1:]))


_ZERO: dict[str, bool] = {}


def is_zero(amount: str) -> bool:
    """Whether a decimal string is zero (cached: principals repeat a lot)."""
    got = _ZERO.get(amount)
    if got is None:
        if len(_ZERO) > 100_000:  # a safety valve
            _ZERO.clear()
        got = _ZERO[amount] = Decimal(amount) == 0
    return got


def loan_status(rec: Record) -> int:
    """Status of a loan whose latest (by event time) effective record is ``rec``."""
    typ = rec[R_TYPE]
    if typ in OPEN_TYPES:
        return OPEN
    if typ == REPAYMENT:
        return PAID if is_zero(rec[R_PRINCIPAL]) else OPEN
    if typ == CLOSURE:
        return PAID if is_zero(rec[R_PRINCIPAL]) else CLOSED
    if typ == WRITE_OFF:
        return WRITTEN_OFF
    if typ == DECLINE:
        return DECLINED
    return PENDING


def is_delinquent(rec: Record) -> bool:
    """Whether a record is evidence of delinquency (negative data)."""
    typ = rec[R_TYPE]
    if typ in NON_SERVICING:
        return False
    return rec[R_DPD] > 0 or typ in (OVERDUE, DEFAULT, WRITE_OFF)


def rebuild_loan(loan: Loan) -> None:
    """Recompute the mask and first disbursement of a loan from its records."""
    mask, first = 0, -1
    for rec in loan[L_RECS]:
        mask |= 1 << rec[R_TYPE]
        if rec[R_TYPE] == DISBURSEMENT and (first < 0 or rec[R_T] < first):
            first = rec[R_T]
    loan[L_MASK], loan[L_FIRST_DISB] = mask, first


def prune(state: ProfileState, loan_horizon_ms: int, act_days: int, retention_ms: int) -> None:
    """Drop what no read at or after ``state.watermark`` can see, and no later arrival
    (however old, within retention) needs.

    Activity day buckets and correction keys go when they leave their horizon; the
    duplicate of such an event, should it arrive again, is then no longer recognised
    (see ``streams.domain.profile.fold``: ingress's dedup window covers resends). Per loan, records
    older than the loan horizon go except: the latest record (a loan is kept, closed or
    not, until retention has passed since it; open loans always), delinquent records
    (negative data, for the same retention), and the newest servicing record older than
    the horizon (it says whether the loan was past due when a later repayment was made:
    ``streams.domain.profile.credit``). So a late, older event of a loan still finds the
    loan's latest record and cannot make a closed loan look open. Pending corrections
    and the keys of stale arrivals (``ProfileState.stale``) are kept until they leave
    retention, so that a target arriving late is still corrected and a stale arrival's
    duplicate still recognised.
    """
    state.credit_memo = state.activity_memo = None
    wm = state.watermark
    cut = wm - loan_horizon_ms
    kept_from = wm - retention_ms
    day_cut = wm // 86_400_000 - act_days
    days = state.act_days
    if days:
        for d in [d for d in days if d < day_cut]:
            del days[d]
    if state.cseen:
        for key in [k for k, t in state.cseen.items() if t < cut]:
            del state.cseen[key]
    if state.pending:
        for key in [k for k, p in state.pending.items() if p[0] < kept_from]:
            del state.pending[key]
    if state.stale:
        for key in [k for k, t in state.stale.items() if t < kept_from]:
            del state.stale[key]
    old = [(k, loan) for k, loan in state.loans.items() if loan[L_RECS][0][R_T] < cut]
    for lkey, loan in old:
        recs: list[Record] = loan[L_RECS]
        latest = recs[-1]
        # Negative data ages out `retention` after the loan's last event; never while open.
        if loan_status(latest) != OPEN and latest[R_T] <= kept_from:
            for rec in recs:
                state.lidx.pop(rec[R_KEY], None)
            del state.loans[lkey]
            continue
        last = len(recs) - 1
        bound = -1  # the newest servicing record older than the horizon
        for i, rec in enumerate(recs):
            if rec[R_T] >= cut:
                break
            if rec[R_TYPE] not in NON_SERVICING:
                bound = i
        keep: list[Record] = []
        for i, rec in enumerate(recs):
            if rec[R_T] >= cut or i in (last, bound) or is_delinquent(rec):
                keep.append(rec)
            else:
                state.lidx.pop(rec[R_KEY], None)
        if len(keep) < len(recs):
            loan[L_RECS] = keep
    state.prune_day = wm // 86_400_000

"""The borrower's rights inside one borrower batch (pure): objections opened, answered by
a platform's correction, expired at their deadline, and erasures; what each makes the
batch write.

``streams.domain.rights`` holds the rules; this applies them to the batch's entries
and collects what comes out of them:

* ``platform``: one ``io.creditstream.Dispute`` datum per dispute opened, answered or
  expired, for ``platforms.<p>.disputes`` keyed by the dispute id;
* ``log``: one ``io.creditstream.RightExercised`` per dispute opened, refused, answered
  or expired and per erasure, for ``exchange.rights-log``;
* ``closed``: the disputes answered or expired in this batch, with the borrower, for
  the correction notices to banks whose consent ended (``notices``);
* ``forced``: the borrowers whose profile must go out as a new version (marked,
  unmarked, corrected, without an excluded loan, or erased) whatever the
  material-change rule;
* ``emptied``: the borrowers an erasure left without data: banks holding consent get
  ``ERASED`` instead of a profile, ``exchange.profiles`` gets a tombstone, and so does
  the state when no consent is left either.

As a :class:`~streams.stages.borrower.fold.RightsHook` it takes the facts of each
openly disputed loan before the borrower's events fold and, after, closes the disputes
a correction of that loan answered, and keeps excluded loans out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from streams import topics
from streams.domain.delivery import Delivery, correction_notice
from streams.domain.rights import (
    OPEN,
    Dispute,
    DisputeRequest,
    ErasureRequest,
    RightsPolicy,
    answer,
    before_answers,
    erase,
    exclude_loans,
    expire,
    holds_data,
    notice_banks,
    open_dispute,
)
from streams.stages.borrower.entry import BorrowerEntry
from streams.stages.borrower.events import LOAN_CORRECTS, LOAN_ID, OP_IS_LOAN, OP_PLATFORM, Op
from streams.stages.borrower.requests import (
    RightsRequest,
    dispute_datum,
    dispute_logged,
    notice_message,
    right_datum,
)

#: (topic, key, ``io.creditstream.Dispute`` datum) for a platform's disputes topic.
PlatformRecord = tuple[str, str, dict[str, Any]]


@dataclass
class BatchRights:
    """The rights side of one batch (see the module doc)."""

    now_ms: int
    policy: RightsPolicy
    platform: list[PlatformRecord] = field(default_factory=list)
    log: list[dict[str, Any]] = field(default_factory=list)
    closed: list[tuple[int, str, BorrowerEntry, Dispute]] = field(default_factory=list)
    forced: dict[str, tuple[int, BorrowerEntry]] = field(default_factory=dict)
    emptied: set[str] = field(default_factory=set)
    refused: list[str] = field(default_factory=list)  # platforms of refused disputes

    def _tell(self, bid: str, d: Dispute) -> None:
        self.log.append(dispute_logged(bid, d, self.now_ms))
        if d.status != "REFUSED":  # the platform has nothing to answer
            self.platform.append((topics.disputes(d.platform), d.dispute_id, dispute_datum(d)))

    def request(self, partition: int, entry: BorrowerEntry, req: RightsRequest) -> None:
        """Apply one borrower request: open (or refuse) an objection, or erase."""
        if isinstance(req, ErasureRequest):
            self._erase(partition, entry, req)
            return
        self._open(partition, entry, req)

    def _open(self, partition: int, entry: BorrowerEntry, req: DisputeRequest) -> None:
        entry.rights, d = open_dispute(entry.rights, entry.state, req, self.now_ms, self.policy)
        if d is None:  # a replayed request
            return
        self._tell(req.borrower_id, d)
        if d.status == OPEN:
            self.forced[req.borrower_id] = (partition, entry)
        else:
            self.refused.append(d.platform)

    def _erase(self, partition: int, entry: BorrowerEntry, req: ErasureRequest) -> None:
        bid = req.borrower_id
        done = erase(entry.state, self.policy.erasure)
        self.log.append(
            right_datum(bid, req.request_id, "ERASED", self.now_ms,
                        detail=done.describe(self.policy.erasure))
        )  # fmt: skip
        rights = entry.rights
        if rights is not None:  # objections about what is gone go (exclusions stay)
            for did in [
                i for i, d in rights.disputes.items() if d.loan_key not in entry.state.loans
            ]:
                del rights.disputes[did]
            rights.ended.clear()
            entry.rights = None if rights.empty() else rights
        self.forced[bid] = (partition, entry)
        if not holds_data(entry.state):
            self.emptied.add(bid)

    def deadlines(self, partition: int, bid: str, entry: BorrowerEntry) -> None:
        """Close the entry's disputes whose deadline has passed."""
        if entry.rights is None:
            return
        for d in expire(entry.rights, entry.state, self.now_ms, self.policy):
            self._tell(bid, d)
            self.closed.append((partition, bid, entry, d))
            self.forced[bid] = (partition, entry)

    # -- RightsHook ------------------------------------------------------------------
    def before(self, entry: BorrowerEntry) -> object:
        assert entry.rights is not None
        return before_answers(entry.rights, entry.state)

    def after(self, entry: BorrowerEntry, partition: int, ops: list[Op], token: object) -> bool:
        rights = entry.rights
        assert rights is not None and isinstance(token, dict)
        changed = exclude_loans(rights, entry.state)
        if token:  # an open dispute: did a correction of its loan arrive?
            named = [
                f"{op[OP_PLATFORM]}\0{op[LOAN_ID]}"
                for op in ops
                if op[OP_IS_LOAN] and op[LOAN_CORRECTS] is not None
            ]
            bid = entry.state.borrower_id
            for d in answer(rights, entry.state, named, token, self.now_ms):
                self._tell(bid, d)
                self.closed.append((partition, bid, entry, d))
                changed = True
        return changed

    def notices(self) -> list[tuple[int, Delivery]]:
        """The correction notices owed for the disputes closed in this batch."""
        out = []
        for partition, bid, entry, d in self.closed:
            assert entry.rights is not None
            for bank, ended in notice_banks(entry.rights, d, entry.subs, self.now_ms, self.policy):
                notice = correction_notice(
                    bank, ended, bid, entry.last_version, notice_message(d), self.now_ms
                )
                out.append((partition, notice))
        return out

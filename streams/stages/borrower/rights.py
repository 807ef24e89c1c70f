"""The borrower's rights inside one borrower batch (pure): objections opened, answered by
a platform's correction, expired at their deadline; what each makes the batch write.

``streams.domain.rights`` holds the rules; this applies them to the batch's entries
and collects what comes out of them:

* ``platform``: one ``io.creditstream.Dispute`` datum per dispute opened, answered or
  expired, for ``platforms.<p>.disputes`` keyed by the dispute id;
* ``closed``: the disputes answered or expired in this batch, with the borrower, for
  the correction notices to banks whose consent ended (``notices``);
* ``forced``: the borrowers whose profile must go out as a new version (marked,
  unmarked, corrected or without an excluded loan) whatever the material-change rule.

As a :class:`~streams.stages.borrower.fold.RightsHook` it takes the facts of each
openly disputed loan before the borrower's events fold and, after, closes the disputes
a correction of that loan answered, and keeps excluded loans out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from streams import topics
from streams.clock import DAY_MS
from streams.domain.delivery import Delivery, correction_notice
from streams.domain.rights import (
    OPEN,
    Dispute,
    DisputePolicy,
    DisputeRequest,
    answer,
    before_answers,
    exclude_loans,
    expire,
    notice_banks,
    open_dispute,
)
from streams.domain.validation import to_epoch_ms
from streams.errors import DecodeError
from streams.settings import Settings
from streams.stages.borrower.entry import BorrowerEntry
from streams.stages.borrower.events import LOAN_CORRECTS, LOAN_ID, OP_IS_LOAN, OP_PLATFORM, Op
from streams.wire.codec import SniffingCodec
from streams.wire.rejects import Reason
from streams.wire.schemas import BORROWER_REQUEST

#: (topic, key, ``io.creditstream.Dispute`` datum) for a platform's disputes topic.
PlatformRecord = tuple[str, str, dict[str, Any]]


_BORROWER_ID = re.compile(r"[0-9a-f]{64}")


def policy_of(settings: Settings) -> DisputePolicy:
    """The ``dispute_*`` settings as the rules take them."""
    return DisputePolicy(
        int(settings.dispute_deadline_days * DAY_MS),
        settings.dispute_unanswered,
        int(settings.dispute_notify_days * DAY_MS),
        int(settings.dispute_history_days * DAY_MS),
    )


def decode_objection(codec: SniffingCodec, value: bytes) -> DisputeRequest:
    """The objection an ``exchange.requests`` record holds; ``DecodeError`` when it is
    not a ``BorrowerRequest`` the exchange could have written."""
    _, datum = codec.decode(value, {BORROWER_REQUEST})
    bid, platform = datum["borrower_id"], datum["platform"]
    if not _BORROWER_ID.fullmatch(bid) or not topics.valid_tenant(platform):
        raise DecodeError(Reason.INVALID_FIELD, "not a pseudonymized borrower or platform", value)
    return DisputeRequest(
        datum["request_id"], bid, platform, datum["loan_id"], datum["reason"],
        datum["requested_by"], to_epoch_ms(datum["requested_at"]),
    )  # fmt: skip


def dispute_datum(d: Dispute) -> dict[str, Any]:
    """The ``io.creditstream.Dispute`` datum (times as epoch ms) the platform reads."""
    return {
        "dispute_id": d.dispute_id,
        "loan_id": d.loan_id,
        "reason": d.reason,
        "status": d.status,
        "opened_at": d.opened_ms,
        "deadline": d.deadline_ms,
        "closed_at": None if d.open else d.closed_ms,
        "note": d.note or None,
    }


def notice_message(d: Dispute) -> str:
    """What a bank whose consent ended is told about ``d`` (no personal data)."""
    return (
        f"data from platform {d.platform} you received while your consent lasted was "
        f"disputed ({d.dispute_id}): {d.note}; your consent has ended, so no profile follows"
    )


@dataclass
class BatchRights:
    """The rights side of one batch (see the module doc)."""

    now_ms: int
    policy: DisputePolicy
    platform: list[PlatformRecord] = field(default_factory=list)
    closed: list[tuple[int, str, BorrowerEntry, Dispute]] = field(default_factory=list)
    forced: dict[str, tuple[int, BorrowerEntry]] = field(default_factory=dict)
    refused: list[str] = field(default_factory=list)  # platforms of refused disputes

    def _tell(self, d: Dispute) -> None:
        self.platform.append((topics.disputes(d.platform), d.dispute_id, dispute_datum(d)))

    def request(self, partition: int, entry: BorrowerEntry, req: DisputeRequest) -> None:
        """Open the objection ``req`` (or refuse it, or ignore a replay of it)."""
        entry.rights, d = open_dispute(entry.rights, entry.state, req, self.now_ms, self.policy)
        if d is None:
            return
        if d.status == OPEN:
            self._tell(d)
            self.forced[req.borrower_id] = (partition, entry)
        else:
            self.refused.append(d.platform)

    def deadlines(self, partition: int, bid: str, entry: BorrowerEntry) -> None:
        """Close the entry's disputes whose deadline has passed."""
        if entry.rights is None:
            return
        for d in expire(entry.rights, entry.state, self.now_ms, self.policy):
            self._tell(d)
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
            for d in answer(rights, entry.state, named, token, self.now_ms):
                self._tell(d)
                self.closed.append((partition, entry.state.borrower_id, entry, d))
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

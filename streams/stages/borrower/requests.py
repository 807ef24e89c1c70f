"""What the borrower stage reads from ``exchange.requests`` and writes about rights (pure).

* :func:`decode_rights_request`: a ``BorrowerRequest`` record as a
  :class:`~streams.domain.rights.DisputeRequest` or
  :class:`~streams.domain.rights.ErasureRequest`; ``DecodeError`` (a dead letter) for
  one the exchange could not have written;
* :func:`dispute_datum`: the ``io.creditstream.Dispute`` a platform reads on
  ``platforms.<p>.disputes``; :func:`right_datum`: the ``io.creditstream.RightExercised``
  on ``exchange.rights-log``;
* :func:`policy_of`: the ``dispute_*`` and ``erasure_credit`` settings as the rules take
  them.
"""

from __future__ import annotations

import re
from typing import Any

from streams import topics
from streams.clock import DAY_MS
from streams.domain.rights import (
    CONFIRMED,
    CORRECTED,
    NOT_VERIFIED,
    OPEN,
    REFUSED,
    Dispute,
    DisputeRequest,
    ErasureRequest,
    RightsPolicy,
)
from streams.domain.validation import to_epoch_ms
from streams.errors import DecodeError
from streams.settings import Settings
from streams.wire.codec import SniffingCodec
from streams.wire.rejects import Reason
from streams.wire.schemas import BORROWER_REQUEST

RightsRequest = DisputeRequest | ErasureRequest
_BORROWER_ID = re.compile(r"[0-9a-f]{64}")
#: The rights-log action of each dispute status.
_ACTION = {
    OPEN: "DISPUTE_OPENED",
    REFUSED: "DISPUTE_REFUSED",
    CORRECTED: "DISPUTE_CORRECTED",
    CONFIRMED: "DISPUTE_CONFIRMED",
    NOT_VERIFIED: "DISPUTE_NOT_VERIFIED",
}


def policy_of(settings: Settings) -> RightsPolicy:
    """The ``dispute_*`` and ``erasure_credit`` settings as the rules take them."""
    return RightsPolicy(
        int(settings.dispute_deadline_days * DAY_MS),
        settings.dispute_unanswered,
        int(settings.dispute_notify_days * DAY_MS),
        int(settings.dispute_history_days * DAY_MS),
        settings.erasure_credit,
    )


def decode_rights_request(codec: SniffingCodec, value: bytes) -> RightsRequest:
    """The request an ``exchange.requests`` record holds (see the module doc)."""
    _, datum = codec.decode(value, {BORROWER_REQUEST})
    bid = datum["borrower_id"]
    if not _BORROWER_ID.fullmatch(bid):
        raise DecodeError(Reason.INVALID_FIELD, "borrower_id is not pseudonymized", value)
    at = to_epoch_ms(datum["requested_at"])
    if datum["kind"] == "ERASURE":
        return ErasureRequest(datum["request_id"], bid, datum["requested_by"], at)
    platform, loan_id, reason = datum["platform"], datum["loan_id"], datum["reason"]
    if platform is None or not topics.valid_tenant(platform) or loan_id is None:
        raise DecodeError(Reason.INVALID_FIELD, "a dispute names no valid platform or loan", value)
    return DisputeRequest(
        datum["request_id"], bid, platform, loan_id, reason or "", datum["requested_by"], at
    )


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


def right_datum(
    borrower_id: str,
    request_id: str,
    action: str,
    at_ms: int,
    platform: str | None = None,
    detail: str | None = None,
) -> dict[str, Any]:
    """The ``io.creditstream.RightExercised`` datum (``at`` as epoch ms)."""
    return {
        "borrower_id": borrower_id,
        "request_id": request_id,
        "action": action,
        "at": at_ms,
        "platform": platform,
        "detail": detail,
    }


def dispute_logged(borrower_id: str, d: Dispute, at_ms: int) -> dict[str, Any]:
    """The rights-log record of ``d`` reaching its current status."""
    return right_datum(
        borrower_id, d.dispute_id, _ACTION[d.status], at_ms, d.platform, d.note or None
    )


def notice_message(d: Dispute) -> str:
    """What a bank whose consent ended is told about ``d`` (no personal data)."""
    return (
        f"data from platform {d.platform} you received while your consent lasted was "
        f"disputed ({d.dispute_id}): {d.note}; your consent has ended, so no profile follows"
    )

"""The borrower's rights: objections against a platform's record, and erasure (pure).

Import the names below from here. ``model``: what is kept per borrower
(:class:`Rights`, :class:`Dispute`, the statuses); ``disputes``: the rules of
objections (open, answer, expire, mark, whom a correction reaches); ``erasure``: what
an erasure removes and keeps. The borrower stage applies them in
its batch (``streams.stages.borrower.rights``). No Kafka import.
"""

from streams.domain.rights.disputes import (
    DEFAULT_POLICY,
    RightsPolicy,
    answer,
    before_answers,
    exclude_loans,
    expire,
    facts_of,
    marked_view,
    marks,
    notice_banks,
    open_dispute,
    prune_rights,
    record_ended,
)
from streams.domain.rights.erasure import RULES, Erased, ErasureRule, erase, holds_data
from streams.domain.rights.model import (
    CONFIRMED,
    CORRECTED,
    NOT_VERIFIED,
    OPEN,
    REFUSED,
    STATUSES,
    Dispute,
    DisputeRequest,
    Ended,
    ErasureRequest,
    Mark,
    Rights,
    loan_key,
    rights_from_tuple,
)

__all__ = [
    "CONFIRMED",
    "CORRECTED",
    "DEFAULT_POLICY",
    "NOT_VERIFIED",
    "OPEN",
    "REFUSED",
    "RULES",
    "STATUSES",
    "Dispute",
    "DisputeRequest",
    "Ended",
    "Erased",
    "ErasureRequest",
    "ErasureRule",
    "Mark",
    "Rights",
    "RightsPolicy",
    "answer",
    "before_answers",
    "erase",
    "exclude_loans",
    "expire",
    "facts_of",
    "holds_data",
    "loan_key",
    "marked_view",
    "marks",
    "notice_banks",
    "open_dispute",
    "prune_rights",
    "record_ended",
    "rights_from_tuple",
]

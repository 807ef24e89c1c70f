"""The borrower's rights: objections (disputes) against a platform's record (pure).

Import the names below from here. ``model``: what is kept per borrower
(:class:`Rights`, :class:`Dispute`, the statuses); ``disputes``: the rules (open,
answer, expire, mark, whom a correction reaches). The borrower stage applies them in
its batch (``streams.stages.borrower.rights``). No Kafka import.
"""

from streams.domain.rights.disputes import (
    DEFAULT_POLICY,
    DisputePolicy,
    DisputeRequest,
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
from streams.domain.rights.model import (
    CONFIRMED,
    CORRECTED,
    NOT_VERIFIED,
    OPEN,
    REFUSED,
    STATUSES,
    Dispute,
    Ended,
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
    "STATUSES",
    "Dispute",
    "DisputePolicy",
    "DisputeRequest",
    "Ended",
    "Rights",
    "answer",
    "before_answers",
    "exclude_loans",
    "expire",
    "facts_of",
    "loan_key",
    "marked_view",
    "marks",
    "notice_banks",
    "open_dispute",
    "prune_rights",
    "record_ended",
    "rights_from_tuple",
]

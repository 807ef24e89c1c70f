"""Borrowers' rights in a chaos run: objections and erasures filed while workers die.

Driver side: :func:`pick_disputes` chooses loans the load sent early (so the exchange
holds them when the objections are filed) of borrowers alpha subscribed, one of them a
borrower whose consent alpha revoked (its closing owes alpha a correction notice), and
:class:`Filed` records each request as the operator tool filed it. The workers run
with a deadline of seconds, so the objections the simulated platforms do not answer
expire during the run.

Checker side, :func:`check_rights`, from what the exchange committed:

* ``exchange.rights-log``: per objection exactly one DISPUTE_OPENED (the bogus one:
  exactly one DISPUTE_REFUSED) and exactly one closing record; per erasure exactly one
  ERASED; nothing for a request never filed;
* ``platforms.<p>.disputes``: per objection exactly ``OPEN`` then its closing status;
* an objection closed NOT_VERIFIED: the borrower's latest state no longer holds the loan;
* a closed objection of a borrower whose consent alpha revoked: exactly one
  ``CORRECTION_NOTICE`` on alpha's feed for that customer_ref.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

from streams import topics
from streams.domain.delivery import CORRECTION_NOTICE
from streams.domain.privacy import normalize_national_id
from streams.domain.rights import NOT_VERIFIED, loan_key
from streams.runtime.registry import codec_for
from streams.simulator.load import SimRecord
from streams.stages.borrower.entry import borrower_entry_from_bytes
from streams.wire.schemas import DISPUTE, FEED_RECORD, RIGHT_EXERCISED
from tests.integration.test_profile_stage import _read_all

CODEC = codec_for(None)
CLOSING = {"DISPUTE_CORRECTED", "DISPUTE_CONFIRMED", "DISPUTE_NOT_VERIFIED"}
#: The objections' deadline in the chaos workers (CREDITSTREAM_DISPUTE_DEADLINE_DAYS).
DEADLINE_S = 20
Conf = dict[str, Any]


@dataclass(frozen=True)
class Filed:
    """One request the driver filed (``kind`` DISPUTE or ERASURE)."""

    kind: str
    request_id: str
    borrower_id: str
    platform: str = ""
    loan_id: str = ""
    bogus: bool = False  # an objection against a loan nobody reported: must be refused
    notice_ref: str = ""  # alpha's revoked customer_ref owed a correction notice


def pick_disputes(
    records: list[SimRecord], nids: list[str], wanted: list[int]
) -> list[tuple[int, str, str]]:
    """``(borrower index, platform, loan_id)`` for each borrower index of ``wanted`` with
    a loan in the first fifth of the load (in ``wanted``'s order)."""
    first = records[: len(records) // 5]
    by_nid = {normalize_national_id(n): i for i, n in enumerate(nids) if i in wanted}
    found: dict[int, tuple[int, str, str]] = {}
    for r in first:
        if r.bad is not None or r.datum is None or r.topic_kind != "loans":
            continue
        i = by_nid.get(normalize_national_id(str(r.datum["national_id"])))
        if i is not None and i not in found:
            found[i] = (i, r.platform, str(r.datum["loan_id"]))
    return [found[i] for i in wanted if i in found]


def open_disputes(conf: Conf, filed: list[Filed]) -> list[str]:
    """The objections filed (not the bogus one) the rights log shows no closing of yet:
    what a settling run still waits for (their deadlines fire on a timer)."""
    wanted = {f.request_id for f in filed if f.kind == "DISPUTE" and not f.bogus}
    if not wanted:
        return []
    for m in _read_all(conf, topics.RIGHTS_LOG):
        datum = CODEC.decode(m.value() or b"", {RIGHT_EXERCISED})[1]
        if datum["action"] in CLOSING:
            wanted.discard(datum["request_id"])
    return [f"dispute {rid} still open" for rid in sorted(wanted)]


def check_rights(conf: Conf, filed: list[Filed]) -> tuple[int, int, list[str]]:
    """``(requests checked, problems, notes)`` (see the module doc)."""
    notes: list[str] = []
    wrong = 0
    logged: dict[str, list[str]] = defaultdict(list)
    for m in _read_all(conf, topics.RIGHTS_LOG):
        datum = CODEC.decode(m.value() or b"", {RIGHT_EXERCISED})[1]
        logged[datum["request_id"]].append(datum["action"])
    known = {f.request_id for f in filed}
    for rid in set(logged) - known:
        wrong += 1
        notes.append(f"rights log holds {logged[rid]} for a request never filed ({rid})")
    told = _platform_statuses(conf, {f.platform for f in filed if f.kind == "DISPUTE"})
    notices = _notices(conf)
    for f in filed:
        actions = logged.get(f.request_id, [])
        problem = _problem(f, actions, told.get(f.request_id, []), notices)
        if problem is None and actions[-1:] == ["DISPUTE_NOT_VERIFIED"]:
            problem = _still_held(conf, f)
        if problem is not None:
            wrong += 1
            notes.append(f"{f.kind} {f.request_id}: {problem}")
    return len(filed), wrong, notes


def _problem(
    f: Filed, actions: list[str], statuses: list[str], notices: Counter[str]
) -> str | None:
    if f.kind == "ERASURE":
        return None if actions == ["ERASED"] else f"logged {actions}, want one ERASED"
    if f.bogus:
        ok = actions == ["DISPUTE_REFUSED"] and statuses == []
        return None if ok else f"logged {actions}, told {statuses}: want one refusal"
    if len(actions) != 2 or actions[0] != "DISPUTE_OPENED" or actions[1] not in CLOSING:
        return f"logged {actions}: want opened, then closed once"
    if statuses != ["OPEN", actions[1].removeprefix("DISPUTE_")]:
        return f"the platform was told {statuses}, the log says {actions}"
    if f.notice_ref and notices[f.notice_ref] != 1:
        return f"alpha got {notices[f.notice_ref]} correction notices for {f.notice_ref}"
    return None


def _platform_statuses(conf: Conf, platforms: set[str]) -> dict[str, list[str]]:
    """Per dispute id, the statuses its platform read, in order (one key: one partition)."""
    out: dict[str, list[str]] = defaultdict(list)
    for platform in sorted(platforms):
        for m in _read_all(conf, topics.disputes(platform)):
            datum = CODEC.decode(m.value() or b"", {DISPUTE})[1]
            out[datum["dispute_id"]].append(datum["status"])
    return out


def _notices(conf: Conf) -> Counter[str]:
    found: Counter[str] = Counter()
    for m in _read_all(conf, topics.feed("alpha")):
        datum = CODEC.decode(m.value() or b"", {FEED_RECORD})[1]
        if datum["kind"] == CORRECTION_NOTICE:
            found[datum["customer_ref"]] += 1
    return found


def _still_held(conf: Conf, f: Filed) -> str | None:
    values = [
        m.value()
        for m in _read_all(conf, topics.BORROWER_STATE)
        if m.key() == f.borrower_id.encode()
    ]
    last = values[-1] if values else None
    if last is None:
        return "the borrower has no state left"
    entry = borrower_entry_from_bytes(last)
    if loan_key(f.platform, f.loan_id) in entry.state.loans:
        return f"{NOT_VERIFIED} but the state still holds loan {f.loan_id}"
    return None

"""Objections: open, answer, expire, mark, and whom a correction reaches (pure).

Contract (the borrower stage calls these inside its batch; no Kafka import):

* :func:`open_dispute` records a :class:`DisputeRequest` against the borrower's state:
  OPEN with a deadline when the platform's loan is in the profile, REFUSED (with the
  reason) when it is not or is already disputed; a request id seen before changes
  nothing (a replayed request). An OPEN dispute makes a new profile version: every
  consented bank receives the profile again, marked (:func:`marks`).
* The platform answers by publishing a ``CORRECTION`` of a record of the disputed loan
  (its facts name the loan). :func:`answer` closes the loan's open disputes after the
  batch's events were folded: CORRECTED when the loan's facts changed
  (:func:`facts_of` before and after), CONFIRMED when they did not.
* :func:`expire` closes open disputes whose deadline has passed as NOT_VERIFIED; under
  the ``exclude`` policy their loan leaves the profile (:func:`exclude_loans` keeps it
  out when later events of it arrive), under ``keep-marked`` it stays, marked.
* :func:`notice_banks`: when a dispute is answered or expires, the banks whose consent
  ended within the notification window and after the loan's first event receive a
  correction notice (banks with consent receive the corrected profile itself).
* :func:`record_ended` remembers a bank's consent that ended after data was delivered;
  :func:`prune_rights` forgets what left its window.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from streams.clock import DAY_MS
from streams.domain.consent import Subscription, Subscriptions
from streams.domain.profile.state import (
    L_RECS,
    R_CUR,
    R_DPD,
    R_DUE,
    R_KEY,
    R_LENDER,
    R_PRINCIPAL,
    R_T,
    R_TYPE,
    ProfileState,
)
from streams.domain.rights.erasure import ErasureRule
from streams.domain.rights.model import (
    CONFIRMED,
    CORRECTED,
    NOT_VERIFIED,
    REFUSED,
    Dispute,
    DisputeRequest,
    Ended,
    Mark,
    Rights,
    loan_key,
)

Unanswered = Literal["exclude", "keep-marked"]


@dataclass(frozen=True, slots=True)
class RightsPolicy:
    """How long a platform has to answer, what an unanswered dispute does, how long
    recipients and outcomes are remembered (settings ``dispute_*``), and what an
    erasure keeps of credit data (``erasure_credit``)."""

    deadline_ms: int = 20 * DAY_MS  # 征信业管理条例 art. 25: 20 days
    unanswered: Unanswered = "exclude"
    notify_ms: int = 183 * DAY_MS  # FCRA §1681i(d): recipients of the last 6 months
    history_ms: int = 365 * DAY_MS
    erasure: ErasureRule = "keep-negative"


DEFAULT_POLICY = RightsPolicy()


def facts_of(state: ProfileState, lkey: str) -> tuple[Any, ...]:
    """What a platform reports about a loan: each record's identity and facts (not the
    bookkeeping of which correction won); empty when the loan is not held."""
    loan = state.loans.get(lkey)
    if loan is None:
        return ()
    return tuple(
        (r[R_KEY], r[R_T], r[R_TYPE], r[R_LENDER], r[R_CUR], r[R_PRINCIPAL], r[R_DPD], r[R_DUE])
        for r in loan[L_RECS]
    )


def open_dispute(
    rights: Rights | None,
    state: ProfileState,
    req: DisputeRequest,
    now_ms: int,
    policy: RightsPolicy = DEFAULT_POLICY,
) -> tuple[Rights, Dispute | None]:
    """The borrower's rights with ``req`` applied, and the dispute it made (None: a
    request id already seen, nothing changes). See the module doc."""
    rights = Rights() if rights is None else rights
    if req.dispute_id in rights.disputes:
        return rights, None
    lkey = loan_key(req.platform, req.loan_id)
    loan = state.loans.get(lkey)
    first = loan[L_RECS][0][R_T] if loan else -1
    dispute = Dispute(
        req.dispute_id, req.platform, req.loan_id, req.reason, req.requested_by, now_ms,
        now_ms + policy.deadline_ms, first,
    )  # fmt: skip
    already = next((d for d in rights.disputes.values() if d.open and d.loan_key == lkey), None)
    if loan is None:
        _close(dispute, REFUSED, now_ms, f"no record of loan {req.loan_id!r} from {req.platform}")
    elif already is not None:
        _close(dispute, REFUSED, now_ms, f"already disputed ({already.dispute_id})")
    else:
        state.version += 1  # the marked profile goes out as a new version
    rights.disputes[dispute.dispute_id] = dispute
    return rights, dispute


def before_answers(rights: Rights, state: ProfileState) -> dict[str, tuple[Any, ...]]:
    """The facts of every openly disputed loan (taken before a batch's events fold)."""
    return {d.loan_key: facts_of(state, d.loan_key) for d in rights.disputes.values() if d.open}


def answer(
    rights: Rights,
    state: ProfileState,
    corrected: Iterable[str],
    before: dict[str, tuple[Any, ...]],
    now_ms: int,
) -> list[Dispute]:
    """Close the open disputes of the loans a correction named (``corrected``: loan
    keys); ``before``: :func:`before_answers` of the same state before the fold."""
    named = set(corrected)
    done = []
    for d in rights.disputes.values():
        if d.open and d.loan_key in named:
            changed = facts_of(state, d.loan_key) != before.get(d.loan_key, ())
            note = "the platform corrected the record" if changed else "the platform confirmed"
            _close(d, CORRECTED if changed else CONFIRMED, now_ms, note)
            done.append(d)
    return done


def expire(
    rights: Rights, state: ProfileState, now_ms: int, policy: RightsPolicy = DEFAULT_POLICY
) -> list[Dispute]:
    """Close the open disputes past their deadline as NOT_VERIFIED (see module doc)."""
    done = []
    for d in rights.disputes.values():
        if d.open and d.deadline_ms <= now_ms:
            if policy.unanswered == "exclude":
                _close(d, NOT_VERIFIED, now_ms, "not answered in time: removed from the profile")
                if d.loan_key not in rights.excluded:
                    rights.excluded.append(d.loan_key)
            else:
                _close(d, NOT_VERIFIED, now_ms, "not answered in time: kept, marked")
            done.append(d)
    if done:
        exclude_loans(rights, state)
        state.version += 1  # the outcome goes out as a new version
    return done


def exclude_loans(rights: Rights, state: ProfileState) -> bool:
    """Take the excluded loans out of ``state`` (they may have come back with a later
    event); True when something was removed."""
    removed = False
    for lkey in rights.excluded:
        loan = state.loans.pop(lkey, None)
        if loan is None:
            continue
        removed = True
        for rec in loan[L_RECS]:
            if state.lidx.get(rec[R_KEY]) == lkey:
                del state.lidx[rec[R_KEY]]
    if removed:
        state.credit_memo = None
    return removed


def marks(rights: Rights | None, policy: RightsPolicy = DEFAULT_POLICY) -> tuple[Mark, ...]:
    """What a bank is told is contested: each open dispute (and, under ``keep-marked``,
    each unverified one), oldest first."""
    if rights is None:
        return ()
    shown = [
        d
        for d in rights.disputes.values()
        if d.open or (d.status == NOT_VERIFIED and policy.unanswered == "keep-marked")
    ]
    shown.sort(key=lambda d: d.opened_ms)
    return tuple(Mark(d.dispute_id, d.platform, d.status, d.opened_ms) for d in shown)


def marked_view(view: str, found: Sequence[Mark]) -> str:
    """The bank-facing profile JSON ``view`` with the marks added as ``"disputed"``."""
    if not found:
        return view
    extra = json.dumps([m.as_json() for m in found], sort_keys=True, separators=(",", ":"))
    return f'{view[:-1]},"disputed":{extra}}}'


def record_ended(rights: Rights | None, gone: Iterable[Subscription], now_ms: int) -> Rights | None:
    """Remember each ended consent in ``gone`` (their banks had received data)."""
    for sub in gone:
        rights = Rights() if rights is None else rights
        ended = min(now_ms, sub.expires_at_ms)
        rights.ended[sub.bank] = Ended(sub.customer_ref, sub.consent_ref, str(sub.purpose), ended)
    return rights


def notice_banks(
    rights: Rights,
    dispute: Dispute,
    subs: Subscriptions,
    now_ms: int,
    policy: RightsPolicy = DEFAULT_POLICY,
) -> list[tuple[str, Ended]]:
    """``(bank, ended consent)`` owed a correction notice for ``dispute``: consent ended
    within the window and after the loan's first event, and not held again now."""
    since = now_ms - policy.notify_ms
    return [
        (bank, e)
        for bank, e in sorted(rights.ended.items())
        if e.ended_ms >= since
        and e.ended_ms >= dispute.loan_from_ms
        and not (bank in subs and subs[bank].active_at(now_ms))
    ]


def prune_rights(
    rights: Rights | None, now_ms: int, policy: RightsPolicy = DEFAULT_POLICY
) -> Rights | None:
    """Forget answered disputes older than the history and ended consents older than
    the notification window (excluded loans stay excluded); None when nothing is left."""
    if rights is None:
        return None
    old = now_ms - policy.history_ms
    for did in [i for i, d in rights.disputes.items() if not d.open and d.closed_ms < old]:
        del rights.disputes[did]
    gone = now_ms - policy.notify_ms
    for bank in [b for b, e in rights.ended.items() if e.ended_ms < gone]:
        del rights.ended[bank]
    return None if rights.empty() else rights


def _close(d: Dispute, status: str, now_ms: int, note: str) -> None:
    d.status, d.closed_ms, d.note = status, now_ms, note

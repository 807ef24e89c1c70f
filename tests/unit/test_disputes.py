"""Objections (pure): the rules, and the borrower batch that applies them.

A borrower disputes a platform's record of a loan: the record is marked in what every
consented bank receives, the platform is told, and its CORRECTION of the loan answers
(CORRECTED or CONFIRMED); unanswered at the deadline it leaves the profile. A bank
whose consent ended after receiving the data gets a correction notice, audited.
"""

from __future__ import annotations

import json
from dataclasses import replace
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from streams.clock import DAY_MS, iso_ms
from streams.domain.consent import Subscription
from streams.domain.delivery import ALERT, CORRECTION_NOTICE, PROFILE_UPDATE, SUBSCRIPTION_ACK
from streams.domain.profile.fold import apply
from streams.domain.profile.model import view_to_profile
from streams.domain.profile.oracle import fold as oracle_fold
from streams.domain.profile.state import new_state
from streams.domain.profile.windows import DEFAULT_CONFIG
from streams.domain.rights import (
    CONFIRMED,
    CORRECTED,
    DEFAULT_POLICY,
    NOT_VERIFIED,
    OPEN,
    REFUSED,
    DisputeRequest,
    Ended,
    RightsPolicy,
    exclude_loans,
    expire,
    marks,
    notice_banks,
    open_dispute,
    prune_rights,
    record_ended,
)
from streams.runtime.registry import codec_for
from streams.sdk.subscriber import profile_of
from streams.stages.borrower.batch import Outcome, process_batch
from streams.stages.borrower.deliverybytes import DeliveryEncoder
from streams.stages.borrower.entry import (
    borrower_entry_from_bytes,
    borrower_entry_to_bytes,
    new_borrower_entry,
    next_expiry_of,
)
from streams.stages.borrower.events import op_of
from streams.stages.borrower.records import OutputEncoder
from streams.stages.borrower.store import BorrowerStore
from streams.wire.consents import Action, ConsentRequest, Purpose
from streams.wire.events import ExchangeEvent, LoanEventType
from streams.wire.schemas import DISPUTE, FEED_RECORD
from tests.unit.profile_factories import BORROWER, DAY, T0, commit, loan_event

CODEC = codec_for(None)
ENCODER = OutputEncoder(CODEC)
FEEDS = DeliveryEncoder(CODEC, ENCODER)
NOW = T0 + 30 * DAY
DISB = LoanEventType.DISBURSEMENT


def objection(did: str = "d1", loan_id: str = "L1", platform: str = "p1") -> DisputeRequest:
    return DisputeRequest(did, BORROWER, platform, loan_id, "never took it", "operator", NOW)


def wrong_loan(principal: str = "900.00") -> ExchangeEvent:
    return loan_event("e1", T0 + DAY, DISB, loan_id="L1", principal=principal)


def correction(principal: str, event_id: str = "c1") -> ExchangeEvent:
    return loan_event(
        event_id, T0 + 2 * DAY, LoanEventType.CORRECTION, loan_id="L1", principal=principal,
        corrects="e1",
    )  # fmt: skip


def sub(bank: str, ref: str, expires: int = NOW + 400 * DAY) -> ConsentRequest:
    return ConsentRequest(
        bank, BORROWER, 1, ref, Action.SUBSCRIBE, f"consent-{ref}", Purpose.ACCOUNT_REVIEW,
        expires, NOW,
    )  # fmt: skip


def revoke(bank: str, ref: str) -> ConsentRequest:
    return ConsentRequest(
        bank, BORROWER, 1, ref, Action.REVOKE, f"consent-{ref}", Purpose.ACCOUNT_REVIEW, 0, NOW
    )


def run(
    store: BorrowerStore,
    *,
    requests: Any = (),
    events: Any = (),
    objections: Any = (),
    due: Any = (),
    now: int = NOW,
    policy: RightsPolicy = DEFAULT_POLICY,
) -> Outcome:
    out = process_batch(
        [(0, r) for r in requests], [op_of(0, e) for e in events], due, store.get, now,
        DEFAULT_CONFIG, ENCODER, [(0, o) for o in objections], policy,
    )  # fmt: skip
    store.take_touched()
    commit(store, out.states)
    return out


def feed(out: Outcome) -> list[tuple[str, str, int, bool]]:
    return [
        (d.bank, d.record["kind"], d.record["profile_version"], d.audit is not None)
        for _, d in out.deliveries
    ]


def profile_json(out: Outcome, bank: str) -> dict[str, Any]:
    """The profile ``bank`` received, decoded from the wire as the SDK does."""
    (record,) = [d.record for _, d in out.deliveries if d.bank == bank and d.record["profile"]]
    parsed = profile_of(CODEC.decode(FEEDS.feed(record), {FEED_RECORD})[1])
    assert parsed == json.loads(record["profile"].json())  # the report's JSON says the same
    return parsed


def platform_statuses(out: Outcome) -> list[tuple[str, str, str]]:
    found = []
    for topic, key, datum in out.disputes:
        CODEC.encode(DISPUTE, datum)  # what the stage writes must encode
        found.append((topic, key, datum["status"]))
    return found


# -- the rules -------------------------------------------------------------------------
def test_opening_needs_the_record_and_one_open_dispute_per_loan() -> None:
    state = new_state(BORROWER)
    apply(state, wrong_loan(), DEFAULT_CONFIG)
    before = state.version
    rights, d = open_dispute(None, state, objection(), NOW)
    assert d is not None and d.status == OPEN and d.deadline_ms == NOW + 20 * DAY_MS
    assert d.loan_from_ms == T0 + DAY and state.version == before + 1
    assert open_dispute(rights, state, objection(), NOW)[1] is None  # a replayed request
    _, again = open_dispute(rights, state, objection("d2"), NOW)
    assert again is not None and again.status == REFUSED and "already disputed (d1)" in again.note
    _, missing = open_dispute(rights, state, objection("d3", loan_id="L9"), NOW)
    assert missing is not None and missing.status == REFUSED and "no record" in missing.note
    assert state.version == before + 1  # refusals make no new version
    assert [m.dispute_id for m in marks(rights)] == ["d1"]


def test_an_unanswered_dispute_takes_the_loan_out_and_keeps_it_out() -> None:
    state = new_state(BORROWER)
    apply(state, wrong_loan(), DEFAULT_CONFIG)
    rights, _ = open_dispute(None, state, objection(), NOW)
    assert expire(rights, state, NOW + 20 * DAY_MS - 1) == []
    (d,) = expire(rights, state, NOW + 20 * DAY_MS)
    assert d.status == NOT_VERIFIED and "removed" in d.note
    assert "p1\0L1" not in state.loans and not state.lidx and marks(rights) == ()
    apply(state, loan_event("e2", T0 + 3 * DAY, LoanEventType.REPAYMENT), DEFAULT_CONFIG)
    assert "p1\0L1" in state.loans  # a later event of the loan brings it back ...
    assert exclude_loans(rights, state) and "p1\0L1" not in state.loans  # ... not for long


def test_keep_marked_leaves_the_loan_in_and_marked_as_not_verified() -> None:
    policy = RightsPolicy(unanswered="keep-marked")
    state = new_state(BORROWER)
    apply(state, wrong_loan(), DEFAULT_CONFIG)
    rights, _ = open_dispute(None, state, objection(), NOW, policy)
    expire(rights, state, NOW + 21 * DAY_MS, policy)
    assert "p1\0L1" in state.loans
    assert [(m.dispute_id, m.status) for m in marks(rights, policy)] == [("d1", NOT_VERIFIED)]


def test_notices_go_to_recent_ended_consents_that_could_have_seen_the_loan() -> None:
    state = new_state(BORROWER)
    apply(state, wrong_loan(), DEFAULT_CONFIG)
    rights, d = open_dispute(None, state, objection(), NOW)
    assert d is not None

    def ended(bank: str, at: int) -> Subscription:
        return Subscription(bank, f"r-{bank}", "c", Purpose.ACCOUNT_REVIEW, at, 0)

    old = NOW - DEFAULT_POLICY.notify_ms - 1
    gone = [ended("recent", NOW - DAY_MS), ended("stale", old), ended("early", T0)]
    gone.append(ended("back", NOW - DAY_MS))
    record_ended(rights, gone, NOW)
    back = {"back": ended("back", NOW + 9 * DAY_MS)}  # subscribed again: gets the profile
    found = notice_banks(rights, d, back, NOW)
    assert [b for b, _ in found] == ["recent"]
    assert found[0][1] == Ended("r-recent", "c", "ACCOUNT_REVIEW", NOW - DAY_MS)
    kept = prune_rights(rights, NOW, DEFAULT_POLICY)
    assert kept is not None and set(kept.ended) == {"recent", "early", "back"}  # not "stale"


def test_prune_forgets_old_outcomes_and_old_recipients_only() -> None:
    state = new_state(BORROWER)
    apply(state, wrong_loan(), DEFAULT_CONFIG)
    rights, _ = open_dispute(None, state, objection(), NOW)
    expire(rights, state, NOW + 20 * DAY_MS)
    sub_ = Subscription("b", "r", "c", Purpose.ACCOUNT_REVIEW, NOW, 0)
    record_ended(rights, [sub_], NOW)
    kept = prune_rights(rights, NOW + 100 * DAY_MS)
    assert kept is not None and set(kept.disputes) == {"d1"} and set(kept.ended) == {"b"}
    kept = prune_rights(kept, NOW + 200 * DAY_MS)
    assert kept is not None and set(kept.disputes) == {"d1"} and not kept.ended
    kept = prune_rights(kept, NOW + 400 * DAY_MS)
    assert kept is not None and kept.excluded == ["p1\0L1"] and not kept.disputes


def test_the_state_record_keeps_the_rights_and_their_deadline_is_due() -> None:
    entry = new_borrower_entry(BORROWER)
    apply(entry.state, wrong_loan(), DEFAULT_CONFIG)
    entry.rights, _ = open_dispute(None, entry.state, objection(), NOW)
    data = borrower_entry_to_bytes(entry)
    assert data is not None
    back = borrower_entry_from_bytes(data)
    assert back.rights == entry.rights and back.state == entry.state
    assert next_expiry_of(data) == NOW + 20 * DAY_MS == back.next_due()


# -- in the borrower batch -------------------------------------------------------------
def disputed_store() -> BorrowerStore:
    """Bank a holds consent; bank b received the wrong loan, then revoked."""
    store = BorrowerStore(10)
    run(store, requests=[sub("a", "ra"), sub("b", "rb")])
    first = run(store, events=[wrong_loan()])
    assert feed(first) == [("a", ALERT, 1, True), ("b", ALERT, 1, True)]  # a new loan
    run(store, requests=[revoke("b", "rb")])
    return store


def test_a_dispute_marks_the_profile_for_every_consented_bank_and_tells_the_platform() -> None:
    store = disputed_store()
    out = run(store, objections=[objection()])
    assert feed(out) == [("a", PROFILE_UPDATE, 2, True)]
    assert profile_json(out, "a")["disputed"] == [
        {"dispute_id": "d1", "platform": "p1", "status": OPEN, "since": iso_ms(NOW)}
    ]
    assert platform_statuses(out) == [("platforms.p1.disputes", "d1", OPEN)]
    assert out.emits[0].profile is not None  # exchange.profiles gets the new version too
    # A bank subscribing now is answered with the marked profile.
    out = run(store, requests=[sub("c", "rc")])
    assert feed(out) == [("c", SUBSCRIPTION_ACK, 2, True)]
    assert profile_json(out, "c")["disputed"][0]["dispute_id"] == "d1"


def test_a_correction_answers_every_bank_and_an_ended_consent_gets_a_notice() -> None:
    store = disputed_store()
    run(store, objections=[objection()])
    out = run(store, events=[correction("100.00")])
    assert feed(out) == [("a", PROFILE_UPDATE, 3, True), ("b", CORRECTION_NOTICE, 3, True)]
    fixed = profile_json(out, "a")
    assert "disputed" not in fixed and fixed["outstanding_principal"] == {"EUR": "100.00"}
    ((_, notice),) = [(p, d) for p, d in out.deliveries if d.bank == "b"]
    assert notice.key == "rb" and notice.record["profile"] is None
    assert "corrected" in notice.record["message"] and BORROWER not in str(notice.record)
    assert notice.audit is not None and notice.audit["consent_ref"] == "consent-rb"
    assert platform_statuses(out) == [("platforms.p1.disputes", "d1", CORRECTED)]
    assert [d.status for d in out.closed] == [CORRECTED]


def test_the_same_facts_again_confirm_the_record_and_unmark_it() -> None:
    store = disputed_store()
    run(store, objections=[objection()])
    out = run(store, events=[correction("900.00")])
    assert platform_statuses(out) == [("platforms.p1.disputes", "d1", CONFIRMED)]
    assert feed(out) == [("a", PROFILE_UPDATE, 3, True), ("b", CORRECTION_NOTICE, 3, True)]
    assert "disputed" not in profile_json(out, "a")


def test_an_unanswered_dispute_leaves_the_profile_at_its_deadline() -> None:
    store = disputed_store()
    opened = run(store, objections=[objection()])
    ((_, _, due),) = opened.states.values()
    assert due == NOW + 20 * DAY_MS  # the expiry index hands the borrower out then
    later = NOW + 20 * DAY_MS
    out = run(store, due=[(0, BORROWER)], now=later)
    assert platform_statuses(out) == [("platforms.p1.disputes", "d1", NOT_VERIFIED)]
    assert feed(out) == [("a", PROFILE_UPDATE, 3, True), ("b", CORRECTION_NOTICE, 3, True)]
    gone = profile_json(out, "a")
    assert gone["open_loans"] == 0 and gone["outstanding_principal"] == {}
    # A later event of the loan does not bring it back.
    out = run(store, events=[loan_event("e3", T0 + 3 * DAY, LoanEventType.OVERDUE, dpd=5)],
              now=later)  # fmt: skip
    assert profile_json(out, "a")["open_loans"] == 0


@settings(max_examples=40, deadline=None)
@given(
    wrong=st.integers(1, 10**7),
    right=st.integers(0, 10**7),
    dpd=st.integers(0, 90),
)
def test_a_dispute_then_its_correction_is_the_corrected_history_folded_by_the_oracle(
    wrong: int, right: int, dpd: int
) -> None:
    wrong_p, right_p = f"{Decimal(wrong) / 100:.2f}", f"{Decimal(right) / 100:.2f}"
    events = [
        wrong_loan(wrong_p),
        loan_event("e2", T0 + 3 * DAY, LoanEventType.OVERDUE, loan_id="L1", principal=wrong_p,
                   dpd=dpd),
        correction(right_p),
    ]  # fmt: skip
    store = BorrowerStore(10)
    run(store, events=events[:2])
    run(store, objections=[objection()])
    run(store, events=events[2:])
    entry = store.get(0, BORROWER)
    assert entry.rights is not None and entry.rights.disputes["d1"].status in (
        CORRECTED,
        CONFIRMED,
    )
    assert entry.emitted is not None
    got = view_to_profile(BORROWER, entry.emitted, DEFAULT_CONFIG)
    want = oracle_fold(events, DEFAULT_CONFIG, NOW)[BORROWER]
    assert got.profile_version == want.profile_version + 1  # the dispute made a version
    assert replace(got, profile_version=0) == replace(want, profile_version=0)

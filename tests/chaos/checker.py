"""After a chaos run: what the exchange committed, compared with what it was sent.

Everything is read back from the broker with ``read_committed`` (what a bank or an
auditor can see) and compared with independent expectations:

* events: every good record sent is on ``exchange.events`` exactly once (by platform +
  event_id), every bad one is in its platform's rejects exactly once;
* profiles: per borrower, the latest ProfileUpdate equals ``oracle.fold`` of the
  accepted events, and versions on exchange.profile-updates only grow;
* feeds, per bank and customer_ref, against the consent timeline: the first answer is
  NO_DATA_YET (then every later version is owed) or a snapshot at version v (then every
  version after v); while the consent lasts each owed version arrives exactly once, in
  order; a revoked or expired consent gets a gap-free prefix and nothing after the
  revocation or expiry; refs the bank never subscribed get nothing; each delivered
  profile is the bank view of that version;
* audit: one record per data delivery (a correction notice included) and none
  without one; every chain verifies;
* rights (``tests.chaos.rights``): every objection and erasure carried out exactly
  once. A borrower with an objection opened or an erasure is left out of the oracle
  comparison (the exchange changed their profile on purpose: a loan excluded, data
  erased, and a version per right exercised); a marked profile compares with its
  version's update without the mark.

``Counts`` holds the numbers the chaos test prints and asserts (all must be 0 except
the totals).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from itertools import pairwise
from typing import Any

from confluent_kafka import Message

from streams import topics
from streams.domain.audit import verify
from streams.domain.delivery import (
    ALERT,
    CORRECTION_NOTICE,
    NO_DATA_YET,
    PROFILE_UPDATE,
    SUBSCRIPTION_ACK,
    bank_view,
)
from streams.domain.validation import from_avro, to_epoch_ms
from streams.runtime.registry import codec_for
from streams.wire.events import ExchangeEvent
from streams.wire.rejects import Reject, from_headers
from streams.wire.schemas import AUDIT_RECORD, EXCHANGE_EVENT, FEED_RECORD
from streams.wire.schemas import PROFILE_UPDATE as PROFILE_UPDATE_SCHEMA
from tests.chaos.rights import Filed, check_rights
from tests.integration.test_profile_stage import _read_all, equals_oracle

CODEC = codec_for(None)
DATA_KINDS = {PROFILE_UPDATE, ALERT, SUBSCRIPTION_ACK}
Conf = dict[str, Any]


@dataclass(frozen=True)
class Sent:
    """One record the load sent: its topic, and (good) its event id or (bad) its reason."""

    platform: str
    event_id: str | None  # good records
    reason: str | None  # bad records: what the ingress must answer


@dataclass(frozen=True)
class Consent:
    """One bank's consent for one borrower, as the driver gave it."""

    bank: str
    customer_ref: str
    borrower_id: str  # the pseudonym of the national ID the bank subscribed with
    subscribed_ms: int
    ends_ms: int | None = None  # revoked or expiring at (None: lasts past the run)
    revoked: bool = False


@dataclass
class Counts:
    """The checker's verdict; every field but the ``*_total`` ones must be 0."""

    events_total: int = 0
    events_lost: int = 0
    events_duplicated: int = 0
    rejects_total: int = 0
    rejects_wrong: int = 0  # missing, duplicated or with another reason
    borrowers_total: int = 0
    profiles_wrong: int = 0  # latest update differs from the oracle
    versions_backwards: int = 0  # on exchange.profile-updates or in a feed
    deliveries_total: int = 0
    deliveries_lost: int = 0  # owed by the consent timeline, not delivered
    deliveries_duplicated: int = 0  # same (customer_ref, version) twice in a feed
    deliveries_unentitled: int = 0  # unsubscribed ref, or after revocation/expiry
    deliveries_wrong_content: int = 0
    audit_total: int = 0
    audit_mismatched: int = 0  # deliveries without audit + audit without delivery
    audit_chain_problems: int = 0
    rights_total: int = 0  # objections and erasures filed
    rights_wrong: int = 0  # not carried out exactly once, or not as they should be
    notes: list[str] = field(default_factory=list)

    def failures(self) -> dict[str, int]:
        return {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if f.name != "notes" and not f.name.endswith("_total") and getattr(self, f.name)
        }

    def render(self) -> str:
        rows = [
            f"  {f.name:<26} {getattr(self, f.name)}" for f in fields(self) if f.name != "notes"
        ]
        return "\n".join(["chaos checker:", *rows, *(f"  ! {n}" for n in self.notes[:20])])

    def note(self, text: str) -> None:
        self.notes.append(text)


def check(
    conf: Conf,
    sent: list[Sent],
    consents: list[Consent],
    banks: list[str],
    filed: Sequence[Filed] = (),
) -> Counts:
    counts = Counts()
    accepted = _check_events(conf, sent, counts)
    changed = {f.borrower_id for f in filed if not f.bogus}
    updates = _check_profiles(conf, accepted, counts, changed)
    delivered = _check_feeds(conf, consents, banks, updates, counts)
    _check_audit(conf, delivered, counts)
    counts.rights_total, counts.rights_wrong, notes = check_rights(conf, list(filed))
    counts.notes += notes
    return counts


def _check_events(conf: Conf, sent: list[Sent], counts: Counts) -> list[ExchangeEvent]:
    where: dict[tuple[str, str], list[str]] = defaultdict(list)
    accepted = []
    for m in _read_all(conf, topics.EXCHANGE_EVENTS):
        event = from_avro(CODEC.decode(m.value() or b"", {EXCHANGE_EVENT})[1])
        accepted.append(event)
        where[event.dedup_key].append(f"{m.partition()}@{m.offset()}")
    seen = Counter(e.dedup_key for e in accepted)
    good = {(s.platform, s.event_id) for s in sent if s.event_id is not None}
    counts.events_total = len(good)
    counts.events_lost = len(good - set(seen))
    counts.events_duplicated = sum(n - 1 for n in seen.values())
    twice = [f"{key[1]} at {where[key]}" for key, n in seen.items() if n > 1]
    if twice:
        counts.note(f"accepted twice (exchange.events partition@offset): {twice[:5]}")
    if set(seen) - good:
        counts.note(f"{len(set(seen) - good)} accepted events were never sent")
        counts.events_duplicated += len(set(seen) - good)
    for platform in sorted({s.platform for s in sent}):
        want = Counter(s.reason for s in sent if s.platform == platform and s.reason)
        rejects = [
            from_headers(m.headers(), m.value()) for m in _read_all(conf, topics.rejected(platform))
        ]
        got = Counter(r.reason for r in rejects)
        counts.rejects_total += sum(want.values())
        wrong = sum(((want - got) + (got - want)).values())
        if wrong:
            counts.note(f"{platform} rejects: sent {dict(want)}, got {dict(got)}")
            counts.note(_rejected_twice(rejects))
        counts.rejects_wrong += wrong
    return accepted


def _rejected_twice(rejects: list[Reject]) -> str:
    """Which input records were refused more than once (a batch processed twice
    refuses its bad records again, and its events as DUPLICATE_EVENT), with the time
    between the two refusals; the surplus DUPLICATE_EVENT rejects' first source offset."""
    by_source = Counter(r.key for r in rejects)
    again = sorted(k for k, n in by_source.items() if n > 1)
    dups = sorted(
        (r.source_topic, r.source_partition, r.source_offset)
        for r in rejects
        if r.reason == "DUPLICATE_EVENT"
    )
    first_dup = f"; DUPLICATE_EVENT refusals from {dups[0]}" if dups else ""
    if not again:
        return f"no input record was refused twice{first_dup}"
    first = {r.key: r.rejected_at_ms for r in reversed(rejects)}
    last = {r.key: r.rejected_at_ms for r in rejects}
    gap = [last[k] - first[k] for k in again]
    return (
        f"{len(again)} input records refused twice ({again[0]} .. {again[-1]}),"
        f" {min(gap)}-{max(gap)} ms apart{first_dup}"
    )


def _check_profiles(
    conf: Conf, accepted: list[ExchangeEvent], counts: Counts, changed: set[str]
) -> dict[str, list[dict[str, Any]]]:
    updates: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for m in _read_all(conf, topics.PROFILE_UPDATES):
        datum = CODEC.decode(m.value() or b"", {PROFILE_UPDATE_SCHEMA})[1]
        updates[datum["borrower_id"]].append(datum)
    by_bid: dict[str, list[ExchangeEvent]] = defaultdict(list)
    for e in accepted:
        by_bid[e.borrower_id].append(e)
    counts.borrowers_total = len(by_bid)
    for bid, events in by_bid.items():
        ups = updates.get(bid, [])
        versions = [u["profile_version"] for u in ups]
        counts.versions_backwards += sum(1 for a, b in pairwise(versions) if b <= a)
        if bid in changed:  # a right changed the profile on purpose (see the module doc)
            continue
        if not ups:
            counts.profiles_wrong += 1
            counts.note(f"borrower {bid[:8]} has no profile update")
            continue
        if not equals_oracle(ups[-1]["profile"], bid, events):
            counts.profiles_wrong += 1
            counts.note(f"borrower {bid[:8]}: profile differs from the oracle")
    return updates


def _check_feeds(
    conf: Conf,
    consents: list[Consent],
    banks: list[str],
    updates: dict[str, list[dict[str, Any]]],
    counts: Counts,
) -> list[tuple[str, str, int]]:
    """Returns the data deliveries as (bank, customer_ref, version)."""
    by_version = {
        (u["borrower_id"], u["profile_version"]): u for ups in updates.values() for u in ups
    }
    version_lists = {bid: [u["profile_version"] for u in ups] for bid, ups in updates.items()}
    delivered: list[tuple[str, str, int]] = []
    for bank in banks:
        per_ref: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for m in _read_all(conf, topics.feed(bank)):
            per_ref[(m.key() or b"").decode()].append(
                CODEC.decode(m.value() or b"", {FEED_RECORD})[1]
            )
        mine = {c.customer_ref: c for c in consents if c.bank == bank}
        for ref, records in per_ref.items():
            data = [r for r in records if r["kind"] in DATA_KINDS and r["profile"] is not None]
            counts.deliveries_total += len(data)
            delivered += [(bank, ref, r["profile_version"]) for r in data]
            delivered += [
                (bank, ref, r["profile_version"])
                for r in records
                if r["kind"] == CORRECTION_NOTICE  # audited; checked by check_rights
            ]
            consent = mine.get(ref)
            if consent is None:
                counts.deliveries_unentitled += len(data)
                counts.note(f"{bank} got {len(data)} records for unsubscribed {ref}")
                continue
            _check_ref(bank, consent, records, data, version_lists, by_version, counts)
        for ref in mine:
            if ref not in per_ref:
                counts.deliveries_lost += 1  # not even the answer to the subscription
                counts.note(f"{bank} never got an answer for {ref}")
    return delivered


def _check_ref(
    bank: str,
    consent: Consent,
    records: list[dict[str, Any]],
    data: list[dict[str, Any]],
    version_lists: dict[str, list[int]],
    by_version: dict[tuple[str, int], dict[str, Any]],
    counts: Counts,
) -> None:
    ref = consent.customer_ref
    answer = records[0]
    versions = [r["profile_version"] for r in data]
    dup = sum(n - 1 for n in Counter(versions).values())
    counts.deliveries_duplicated += dup
    counts.versions_backwards += sum(1 for a, b in pairwise(versions) if b < a)
    bid = consent.borrower_id
    all_versions = version_lists.get(bid, [])
    if answer["kind"] == NO_DATA_YET:
        owed = list(all_versions)  # subscribed before any update: every one is owed
    else:  # a snapshot at version v, then every later one
        start = answer["profile_version"]
        owed = [start, *(v for v in all_versions if v > start)]
    for r in data:
        update = by_version.get((bid, r["profile_version"]))
        if update is None or bank_view(r["profile"]) != bank_view(update["profile"]):
            counts.deliveries_wrong_content += 1
    distinct = list(dict.fromkeys(versions))
    if consent.ends_ms is None:
        lost = len(owed) - len(distinct) if distinct == owed[: len(distinct)] else len(owed)
        counts.deliveries_lost += max(0, lost)
        if lost:
            counts.note(f"{bank}/{ref}: delivered {distinct[-3:]}, owed ...{owed[-3:]}")
        return
    # Revoked or expired: a gap-free prefix, nothing after the end.
    if distinct != owed[: len(distinct)]:
        counts.deliveries_lost += 1
        counts.note(f"{bank}/{ref}: delivered {distinct} is not a prefix of {owed}")
    if consent.revoked:
        end = next(
            (
                i
                for i, r in enumerate(records)
                if r["kind"] == SUBSCRIPTION_ACK and r["profile"] is None
            ),
            len(records),
        )
        late = [r for r in records[end:] if r in data]
    else:
        late = [r for r in data if to_epoch_ms(r["produced_at"]) >= (consent.ends_ms or 0)]
    counts.deliveries_unentitled += len(late)


def _check_audit(conf: Conf, delivered: list[tuple[str, str, int]], counts: Counts) -> None:
    msgs: list[Message] = _read_all(conf, topics.EXCHANGE_AUDIT)
    audited: list[tuple[str, str, int]] = []
    chains: dict[int, list[tuple[int, dict[str, Any] | None]]] = defaultdict(list)
    for m in msgs:
        datum = CODEC.decode(m.value() or b"", {AUDIT_RECORD})[1]
        audited.append((datum["bank"], datum["customer_ref"], datum["profile_version"]))
        chains[m.partition() or 0].append((m.offset() or 0, datum))
    counts.audit_total = len(audited)
    a, d = Counter(audited), Counter(delivered)
    counts.audit_mismatched = sum(((a - d) + (d - a)).values())
    for part, records in chains.items():
        problems = verify(records)
        counts.audit_chain_problems += len(problems)
        for p in problems[:3]:
            counts.note(f"audit partition {part}: {p}")

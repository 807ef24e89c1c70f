"""Fan-out: one borrower's profile change -> one feed record per consenting bank.

Contract:

* A :class:`FeedView` is the bank-facing profile of one change as every bank's record
  of it carries it (one object, not one per bank): the profile ``View`` and the
  objections marked on it. The wire encoder writes it as the ``BorrowerProfile`` record
  of ``FeedRecord.profile`` and the marks as ``FeedRecord.disputed``; :meth:`FeedView.json`
  is the same profile as JSON (a person's report), rendered only when asked for.
* :func:`bank_view` renders the bank-facing profile JSON from a ``BorrowerProfile`` or
  its Avro datum (what ``ProfileUpdate.profile`` decodes to); it refuses a view that
  holds a ``borrower_id`` (:class:`PrivacyLeakError`). :func:`bank_view_of` renders the
  same string from a profile ``View``.
* :func:`deliveries` gives one :class:`Delivery` per subscription *active at*
  ``now_ms`` (never an expired or revoked one), keyed by that bank's own
  ``customer_ref``, carrying ``profile_version``, the :class:`FeedView` and the alerts.
  Kind ``ALERT`` when there are alerts (always delivered), else ``PROFILE_UPDATE`` when
  ``material``, else nothing. A record never names another bank's customer_ref or the
  borrower_id (checked on every string the profile and its marks hold, not only on the
  keys: :meth:`FeedView.strings`, what its JSON or its Avro record would carry).
* Every delivery that carries personal data (a profile or alerts) has ``audit``: the
  ``AuditRecord`` fields (unsealed; :class:`streams.domain.audit.ChainHead` seals them) and is
  metered. The snapshot sent on a new subscription is such a delivery. Bare answers,
  i.e. an ack of a revocation, a reject, or ``NO_DATA_YET``, carry no profile data:
  no audit record and no charge, because the audit trail answers "who received this
  person's data" and billing is reproduced from it. They still go to the bank's feed.

Feed records here are ``io.creditstream.FeedRecord`` datums with times as epoch ms and
the profile as a :class:`FeedView` (the encoder writes its record and its marks).
Pure: no Kafka import.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from streams.clock import iso_ms
from streams.domain.consent import Answer, Subscription, Subscriptions, active
from streams.domain.profile.alerts import Alert
from streams.domain.profile.model import V_VERSION, BorrowerProfile, View
from streams.domain.profile.output import profile_to_dict, view_json
from streams.domain.profile.windows import DEFAULT_CONFIG, ProfileConfig
from streams.domain.rights.disputes import marked_view
from streams.domain.rights.model import Ended, Mark
from streams.errors import CreditstreamError
from streams.topics import feed
from streams.wire.avrojson import datum_to_json
from streams.wire.consents import Action

PROFILE_UPDATE = "PROFILE_UPDATE"
ALERT = "ALERT"
SUBSCRIPTION_ACK = "SUBSCRIPTION_ACK"
SUBSCRIPTION_REJECT = "SUBSCRIPTION_REJECT"
NO_DATA_YET = "NO_DATA_YET"
CORRECTION_NOTICE = "CORRECTION_NOTICE"
ERASED = "ERASED"
#: What a bank holding consent is told when a borrower's data was erased to nothing.
ERASED_MESSAGE = (
    "the borrower had their data erased; nothing the exchange may keep remains "
    "(your consent stays until revoked or expired)"
)


class PrivacyLeakError(CreditstreamError):
    """A feed record would have carried a borrower_id: a bug, never sent."""


class FeedView:
    """The bank-facing profile of one change (see the module doc). ``encoded`` is a
    cache the wire encoder fills with the profile's Avro body (or is given it by whoever
    has it already); nothing here reads it."""

    __slots__ = ("_json", "config", "encoded", "marks", "view")

    def __init__(
        self,
        view: View,
        marks: tuple[Mark, ...] = (),
        config: ProfileConfig = DEFAULT_CONFIG,
        encoded: bytes | None = None,
    ) -> None:
        self.view, self.marks, self.config, self.encoded = view, marks, config, encoded
        self._json: str | None = None

    def json(self) -> str:
        """The profile as JSON (:func:`bank_view`'s form, the marks under ``"disputed"``),
        rendered on first use."""
        if self._json is None:
            self._json = marked_view(view_json(self.view, self.config), self.marks)
        return self._json

    def strings(self) -> Iterator[str]:
        """Every string value the profile and its marks carry (the rest are numbers and
        field names): platforms, currency codes, the payment history, the marks'."""
        core, _counts, sums, _asof, _version, platforms, _last = self.view
        credit = core[0]
        yield from platforms
        yield credit[8]
        for pairs in (credit[1], *sums):
            for currency, _amount in pairs:
                yield currency
        for mark in self.marks:
            yield from (mark.dispute_id, mark.platform, mark.status)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FeedView):
            return NotImplemented
        return (self.view, self.marks) == (other.view, other.marks)

    def __hash__(self) -> int:
        return hash((self.view, self.marks))

    def __repr__(self) -> str:
        return f"FeedView(version={self.view[V_VERSION]}, marks={len(self.marks)})"


@dataclass(slots=True, init=False)
class Delivery:
    """One feed record for ``topic`` keyed by ``key`` (the bank's customer_ref), and
    the audit fields when it carries personal data (else None). Built by hand like
    :class:`~streams.wire.events.LoanFacts` (mypyc compiles the init)."""

    bank: str
    topic: str
    key: str
    record: dict[str, Any]
    audit: dict[str, Any] | None

    def __init__(
        self, bank: str, topic: str, key: str, record: dict[str, Any], audit: dict[str, Any] | None
    ) -> None:
        self.bank = bank
        self.topic = topic
        self.key = key
        self.record = record
        self.audit = audit


def bank_view(profile: BorrowerProfile | Mapping[str, Any]) -> str:
    """The ``FeedRecord.profile`` JSON of a profile (dataclass or Avro datum)."""
    if isinstance(profile, BorrowerProfile):
        view = profile_to_dict(profile)
    else:
        view = datum_to_json(dict(profile))
    if "borrower_id" in view:
        raise PrivacyLeakError("bank-facing profile must not contain borrower_id")
    return json.dumps(view, sort_keys=True, separators=(",", ":"))


def bank_view_of(v: View, config: ProfileConfig = DEFAULT_CONFIG) -> str:
    """:func:`bank_view` of the profile the view ``v`` stands for, written from the view
    (``streams.domain.profile.output.view_json``: ~15x cheaper than through a
    ``BorrowerProfile``); it holds no borrower_id by construction."""
    return view_json(v, config)


def feed_alerts(alerts: Iterable[Alert | Mapping[str, Any]]) -> list[dict[str, str]]:
    """``FeedAlert`` datums from :class:`Alert` objects or ``{kind, reason}`` mappings."""
    out = []
    for a in alerts:
        if isinstance(a, Alert):
            out.append({"kind": str(a.kind), "reason": a.reason})
        else:
            out.append({"kind": str(a["kind"]), "reason": str(a["reason"])})
    return out


def _record(
    customer_ref: str,
    version: int,
    kind: str,
    now_ms: int,
    *,
    ingested_at_ms: int | None = None,
    profile: FeedView | None = None,
    alerts: list[dict[str, str]] | None = None,
    message: str | None = None,
) -> dict[str, Any]:
    return {
        "customer_ref": customer_ref,
        "profile_version": version,
        "kind": kind,
        "produced_at": now_ms,
        "ingested_at": ingested_at_ms,
        "profile": profile,
        "alerts": alerts or [],
        "message": message,
    }


def audit_fields(
    sub: Subscription, borrower_id: str, version: int, delivered_at_ms: int
) -> dict[str, Any]:
    """The ``AuditRecord`` fields (no hashes yet) of one delivery under ``sub``."""
    return {
        "bank": sub.bank,
        "borrower_id": borrower_id,
        "customer_ref": sub.customer_ref,
        "profile_version": version,
        "purpose": str(sub.purpose),
        "consent_ref": sub.consent_ref,
        "delivered_at": delivered_at_ms,
        "feed_topic": feed(sub.bank),
    }


def _delivery(
    sub: Subscription, borrower_id: str, version: int, record: dict[str, Any], now_ms: int
) -> Delivery:
    audit = audit_fields(sub, borrower_id, version, now_ms)
    return Delivery(sub.bank, feed(sub.bank), sub.customer_ref, record, audit)


def _check_view(view: FeedView, borrower_id: str) -> None:
    # Not on the JSON: rendering it per change cost more than the rest of the delivery.
    if borrower_id and any(borrower_id in text for text in view.strings()):
        raise PrivacyLeakError("bank-facing data contains the borrower_id")


def _check(view: str, borrower_id: str) -> None:
    # A borrower_id anywhere in the JSON (e.g. in a reason string) is a leak, not only
    # under a "borrower_id" key; 64 hex chars cannot occur by accident.
    if borrower_id and borrower_id in view:
        raise PrivacyLeakError("bank-facing data contains the borrower_id")


def deliveries(
    borrower_id: str,
    view: FeedView,
    version: int,
    alerts: Sequence[Alert | Mapping[str, Any]],
    subs: Subscriptions,
    now_ms: int,
    ingested_at_ms: int | None,
    *,
    material: bool = True,
) -> list[Delivery]:
    """Feed records for one profile change (see module doc); ``material`` from
    ``streams.domain.profile.fold.material_change``."""
    if not alerts and not material:
        return []
    items = feed_alerts(alerts)
    kind = ALERT if items else PROFILE_UPDATE
    _check_view(view, borrower_id)
    if items and borrower_id:
        # The test their JSON would get, value by value (the keys are feed_alerts'
        # own): quotes separate the strings there and escaping keeps hex as it is.
        for item in items:
            for text in item.values():
                _check(text, borrower_id)
    out = []
    for sub in active(subs, now_ms):
        record = _record(
            sub.customer_ref,
            version,
            kind,
            now_ms,
            ingested_at_ms=ingested_at_ms,
            profile=view,
            alerts=items,
        )
        out.append(_delivery(sub, borrower_id, version, record, now_ms))
    return out


def subscription_answer(
    sub: Subscription, borrower_id: str, view: FeedView | None, version: int, now_ms: int
) -> Delivery:
    """The answer to an accepted SUBSCRIBE: ``SUBSCRIPTION_ACK`` carrying the current
    profile (audited), or ``NO_DATA_YET`` at version 0 when ``view`` is None."""
    until = iso_ms(sub.expires_at_ms)
    if view is None:
        msg = f"subscribed until {until}; no platform has reported this borrower yet"
        record = _record(sub.customer_ref, 0, NO_DATA_YET, now_ms, message=msg)
        return Delivery(sub.bank, feed(sub.bank), sub.customer_ref, record, None)
    _check_view(view, borrower_id)
    msg = f"subscribed until {until}"
    record = _record(sub.customer_ref, version, SUBSCRIPTION_ACK, now_ms, profile=view, message=msg)
    return _delivery(sub, borrower_id, version, record, now_ms)


def answer_record(answer: Answer, now_ms: int) -> Delivery:
    """The bare feed record of a revocation ack or of any reject (never audited).

    Rejects say ``"<REASON>: <message>"`` so a bank (and the SDK) can act on the code.
    An accepted SUBSCRIBE is answered by :func:`subscription_answer` instead.
    """
    if answer.accepted and answer.action is Action.SUBSCRIBE:
        raise ValueError("an accepted SUBSCRIBE is answered with subscription_answer()")
    if answer.accepted:
        kind, msg = SUBSCRIPTION_ACK, answer.message or "revoked"
    else:
        kind, msg = SUBSCRIPTION_REJECT, f"{answer.reason}: {answer.message}"
    record = _record(answer.customer_ref, 0, kind, now_ms, message=msg)
    return Delivery(answer.bank, feed(answer.bank), answer.customer_ref, record, None)


def answer_deliveries(
    answer: Answer, borrower_id: str, view: FeedView | None, version: int, now_ms: int
) -> list[Delivery]:
    """Everything a request causes on the bank's feed: the snapshot for an accepted
    SUBSCRIBE (``view``/``version``: the current profile, None/0 if none), else the
    bare ack or reject."""
    if answer.accepted and answer.subscription is not None:
        return [subscription_answer(answer.subscription, borrower_id, view, version, now_ms)]
    return [answer_record(answer, now_ms)]


def correction_notice(
    bank: str,
    ended: Ended,
    borrower_id: str,
    version: int,
    message: str,
    now_ms: int,
) -> Delivery:
    """A ``CORRECTION_NOTICE`` to a bank whose consent has ended: data it received was
    disputed and has been answered (``message`` says how). It carries no profile, only
    the fact of the correction, and is audited under the consent that ended (the
    person's report lists it among the deliveries)."""
    _check(message, borrower_id)
    record = _record(ended.customer_ref, version, CORRECTION_NOTICE, now_ms, message=message)
    audit = {
        "bank": bank,
        "borrower_id": borrower_id,
        "customer_ref": ended.customer_ref,
        "profile_version": version,
        "purpose": ended.purpose,
        "consent_ref": ended.consent_ref,
        "delivered_at": now_ms,
        "feed_topic": feed(bank),
    }
    return Delivery(bank, feed(bank), ended.customer_ref, record, audit)


def erased_records(subs: Subscriptions, version: int, now_ms: int) -> list[Delivery]:
    """``ERASED`` to each bank holding consent at ``now_ms``: nothing remains to send.
    No profile, so no audit record and no charge (the erasure itself is on the rights
    log)."""
    return [
        Delivery(
            s.bank,
            feed(s.bank),
            s.customer_ref,
            _record(s.customer_ref, version, ERASED, now_ms, message=ERASED_MESSAGE),
            None,
        )
        for s in active(subs, now_ms)
    ]

"""Every topic name of the exchange, in one place.

Contract: the exchange's own topics are constants (``EXCHANGE_EVENTS``, ...); a tenant's
topics are built from its name (``ingest_loans(platform)``, ``feed(bank)``, ...), and a
tenant name is valid when it matches :data:`TENANT_RE` (:func:`valid_tenant`).

Tenant identity comes from the topic: ``platform_of`` and ``bank_of`` parse names;
the app never trusts a platform or bank field from a payload.

What each topic is for (key, cleanup, partitions, owner) and which stage reads and
writes it is declared in :mod:`streams.topology`.
"""

from __future__ import annotations

import re

#: Validated, pseudonymized events keyed by borrower_id.
EXCHANGE_EVENTS = "exchange.events"
#: Latest profile per borrower (compacted).
EXCHANGE_PROFILES = "exchange.profiles"
#: Append-only, hash-chained record of every delivery.
EXCHANGE_AUDIT = "exchange.audit"
#: Ingress dedup state: which event_ids each ingest partition has seen (compacted).
INGRESS_DEDUP = "exchange.ingress-dedup"
#: Every profile update (material change or alert), in version order per borrower
#: (append-only): the change stream behind every bank delivery, which no stage reads;
#: an auditor replays it to see what a delivery of version v said (compaction of
#: exchange.profiles never hides an alert from it).
PROFILE_UPDATES = "exchange.profile-updates"
#: Validated, pseudonymized subscription requests (no national ID) keyed by borrower_id,
#: co-partitioned with exchange.events: the consent stage's output, the borrower
#: stage's second input (see streams.wire.consents for the encoding).
CONSENTS = "exchange.consents"
#: Borrower stage state: one entry per borrower (fold state, last emitted profile,
#: subscriptions, last update) (compacted), co-partitioned with exchange.events.
BORROWER_STATE = "exchange.borrower-state"
#: One record per report a borrower was given of what the exchange holds on them
#: (``creditstream report``), keyed by borrower_id: two are free a year (metering).
REPORTS = "exchange.reports"
#: Borrowers' requests exercising a right (today: objections), pseudonymized, keyed by
#: borrower_id and co-partitioned with exchange.events: the borrower stage's third input.
REQUESTS = "exchange.requests"
#: Every exercise of a borrower's right (objections opened, refused, answered; erasures),
#: keyed by borrower_id, written by the borrower stage: kept as long as the audit log.
RIGHTS_LOG = "exchange.rights-log"
#: Internal records a stage could not decode (a bug upstream): the original bytes, keyed
#: by where they were, with the stage, source and reason in headers (streams.wire.rejects).
DEAD_LETTER = "exchange.dead-letter"

#: A platform or bank name: lower-case letters, digits and dashes, starting with a letter.
TENANT_RE = r"[a-z][a-z0-9-]{0,62}"
INGEST_PATTERN = re.compile(rf"^ingest\.({TENANT_RE})\.(loans|activity)$")
_REJECTED = re.compile(rf"^ingest\.({TENANT_RE})\.rejected$")
_DISPUTES = re.compile(rf"^platforms\.({TENANT_RE})\.disputes$")
_BANK = re.compile(rf"^banks\.({TENANT_RE})\.(subscriptions|feed)$")


def valid_tenant(name: str) -> bool:
    """True when ``name`` can be a platform or bank in topic names."""
    return re.fullmatch(TENANT_RE, name) is not None


def ingest_loans(platform: str) -> str:
    return f"ingest.{platform}.loans"


def ingest_activity(platform: str) -> str:
    return f"ingest.{platform}.activity"


def rejected(platform: str) -> str:
    return f"ingest.{platform}.rejected"


def disputes(platform: str) -> str:
    """Where a platform reads the objections against its records."""
    return f"platforms.{platform}.disputes"


def subscriptions(bank: str) -> str:
    return f"banks.{bank}.subscriptions"


def feed(bank: str) -> str:
    return f"banks.{bank}.feed"


def platform_of(topic: str) -> tuple[str, str] | None:
    """``(platform, 'loans'|'activity')`` for an ingest topic, else None."""
    match = INGEST_PATTERN.match(topic)
    return (match.group(1), match.group(2)) if match else None


def rejected_platform(topic: str) -> str | None:
    """The platform a rejected topic belongs to, else None."""
    match = _REJECTED.match(topic)
    return match.group(1) if match else None


def bank_of(topic: str) -> str | None:
    """The bank of a ``banks.<b>.subscriptions|feed`` topic, else None."""
    match = _BANK.match(topic)
    return match.group(1) if match else None


def platform_of_disputes(topic: str) -> str:
    """The platform of a ``platforms.<p>.disputes`` topic (``ValueError`` for another)."""
    match = _DISPUTES.match(topic)
    if match is None:
        raise ValueError(f"not a disputes topic: {topic}")
    return match.group(1)

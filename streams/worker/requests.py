"""A borrower's requests as the exchange's operator files them, and their outcomes.

:func:`file_dispute` (an objection) and :func:`file_erasure` each write one
``BorrowerRequest`` to ``exchange.requests`` (keyed by the borrower_id, so the borrower
stage that owns the borrower applies it in order with the borrower's events): the
national ID is pseudonymized here and never written. An objection's platform must be
provisioned (its ``platforms.<p>.disputes`` topic exists), or the request is refused
before anything is written. :func:`dispute_status` reads the
borrower's committed state record (``exchange.borrower-state``, one partition, as the
report does) and lists the objections with their outcome.
"""

from __future__ import annotations

import secrets

from confluent_kafka import Producer

from streams import topics
from streams.clock import now_ms
from streams.domain.privacy import Pseudonymizer
from streams.domain.report import disputes_of
from streams.errors import BrokerError, ConfigError
from streams.runtime.registry import codec_for
from streams.runtime.topicread import connect_timeout, topic_partitions
from streams.settings import Settings
from streams.wire.schemas import BORROWER_REQUEST
from streams.worker.report import borrower_partitions, committed_entries

#: The most of a borrower's words a platform is shown.
REASON_MAX = 500


def file_dispute(
    settings: Settings,
    pseudo: Pseudonymizer,
    national_id: str,
    platform: str,
    loan_id: str,
    reason: str,
    requested_by: str,
    *,
    timeout: float = 30.0,
) -> str:
    """Send the objection; returns its id (what the borrower quotes). ``national_id``
    is normalized and valid; ``ConfigError`` for a request that cannot be filed."""
    if not topics.valid_tenant(platform):
        raise ConfigError(f"--platform {platform!r} is not a platform name")
    if not loan_id.strip() or not reason.strip():
        raise ConfigError("--loan-id and --reason must not be empty")
    if len(reason) > REASON_MAX:
        raise ConfigError(f"--reason is longer than {REASON_MAX} characters")
    if national_id.lower() in "".join(ch for ch in reason.lower() if ch.isalnum()):
        raise ConfigError("--reason must not contain the national ID (the platform reads it)")
    conf = settings.kafka_client_config()
    topic_partitions(
        conf,
        topics.disputes(platform),
        timeout=connect_timeout(timeout),
        missing=f"platform {platform} is not provisioned here (creditstream admin "
        "provision-platform creates its topics)",
    )
    dispute = {"platform": platform, "loan_id": loan_id, "reason": reason}
    return _send(settings, pseudo, national_id, "DISPUTE", requested_by, dispute, timeout)


def file_erasure(
    settings: Settings,
    pseudo: Pseudonymizer,
    national_id: str,
    requested_by: str,
    *,
    timeout: float = 30.0,
) -> str:
    """Send an erasure request for the person; returns its id."""
    topic_partitions(
        settings.kafka_client_config(),
        topics.REQUESTS,
        timeout=connect_timeout(timeout),
        missing="has the exchange been started (creditstream worker provisions it)?",
    )
    return _send(settings, pseudo, national_id, "ERASURE", requested_by, {}, timeout)


def _send(
    settings: Settings,
    pseudo: Pseudonymizer,
    national_id: str,
    kind: str,
    requested_by: str,
    fields: dict[str, str],
    timeout: float,
) -> str:
    """One ``BorrowerRequest`` on exchange.requests (acks=all, idempotent)."""
    codec = codec_for(settings.schema_registry_url)
    borrower_id = pseudo.borrower_id(national_id)
    request_id = ("d-" if kind == "DISPUTE" else "e-") + secrets.token_hex(8)
    datum = {
        "request_id": request_id,
        "kind": kind,
        "borrower_id": borrower_id,
        "requested_at": now_ms(),
        "requested_by": requested_by,
        "platform": None,
        "loan_id": None,
        "reason": None,
    } | fields
    conf = settings.kafka_client_config()
    producer = Producer(conf | {"enable.idempotence": True, "partitioner": "murmur2_random"})
    producer.produce(topics.REQUESTS, codec.encode(BORROWER_REQUEST, datum), borrower_id.encode())
    if producer.flush(timeout) != 0:
        raise BrokerError("the request could not be written to exchange.requests")
    return request_id


def dispute_status(
    settings: Settings, pseudo: Pseudonymizer, national_id: str, *, timeout: float = 30.0
) -> tuple[dict[str, str], ...]:
    """The person's objections (open first, then newest first) as committed."""
    conf = settings.kafka_client_config()
    _, where = borrower_partitions(conf, pseudo, national_id, timeout)
    found: list[dict[str, str]] = []
    for entry in committed_entries(conf, where, timeout).values():
        found += disputes_of(entry.rights)
    return tuple(found)

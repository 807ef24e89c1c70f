"""The borrower's requests, as the exchange's operator (or a regulator's tool) files them.

:func:`file_dispute` (an objection against one platform's record of one loan) and
:func:`file_erasure` each write one ``io.creditstream.BorrowerRequest`` to
``exchange.requests``, keyed by the borrower_id, so the borrower stage that owns the
borrower applies it in order with the borrower's events; each returns the request id
the borrower quotes. The national ID is pseudonymized here, with the exchange's key,
and never written. An objection's platform must be provisioned (its
``platforms.<p>.disputes`` topic exists) and its reason must not hold the national ID
(the platform reads it): otherwise :class:`~streams.errors.ConfigError` and nothing is
written. ``creditstream dispute open`` and ``creditstream erase`` are these calls;
``creditstream dispute status`` reads the outcome (``streams.worker.disputes``)::

    from streams.sdk.rights import file_dispute
    dispute_id = file_dispute(settings, pseudonymizer, national_id, "shopmart", "L-7",
                              "I repaid this loan in March", requested_by="regulator")
"""

from __future__ import annotations

import secrets

from confluent_kafka import Producer

from streams import topics
from streams.clock import now_ms
from streams.domain.privacy import Pseudonymizer, is_valid_national_id, normalize_national_id
from streams.errors import BrokerError, ConfigError
from streams.runtime.registry import codec_for
from streams.runtime.topicread import connect_timeout, topic_partitions
from streams.settings import Settings
from streams.wire.schemas import BORROWER_REQUEST

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
    """Send the objection; returns its id (what the borrower quotes). ``ConfigError``
    for a request that cannot be filed (see the module doc)."""
    national_id = _normalized(national_id)
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
    national_id = _normalized(national_id)
    topic_partitions(
        settings.kafka_client_config(),
        topics.REQUESTS,
        timeout=connect_timeout(timeout),
        missing="has the exchange been started (creditstream worker provisions it)?",
    )
    return _send(settings, pseudo, national_id, "ERASURE", requested_by, {}, timeout)


def _normalized(national_id: str) -> str:
    national = normalize_national_id(national_id)
    if not is_valid_national_id(national):
        raise ConfigError("the national ID is not 4-32 letters/digits once normalized")
    return national


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

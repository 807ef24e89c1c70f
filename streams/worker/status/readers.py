"""What the status page reads from Kafka: blocking calls, run off the event loop.

Neither runs per event nor on a stage's thread; the views call them in a worker thread
(``asyncio.to_thread``) when someone looks:

* :func:`read_disputes`: each platform's objections as the exchange has committed them
  on ``platforms.<p>.disputes`` (the latest record per dispute id, read as ``creditstream
  platforms`` reads it, ``streams.ops.platforms``): open ones (deadline ahead) and
  overdue ones (still open past the deadline: no worker has closed them yet). Across
  every worker, unlike the page's counters. In secure mode the exchange's principal may
  only write those topics; the read then fails and the page says so.
* :func:`deliveries_of`: who received a person's data, from ``exchange.audit``: the
  partition holding each of the person's borrower_ids (one per key version, as the
  report finds them: ``streams.worker.report.borrower_partitions``), every committed
  record there read and its hash chain verified on the way. The national ID is
  pseudonymized here and never leaves this function: not in the answer, not in an
  error (the answer names the borrower by an 8-character prefix of its borrower_id).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Message, TopicPartition

from streams import topics
from streams.clock import iso_ms
from streams.domain.audit import GENESIS, ChainVerifier
from streams.domain.privacy import Pseudonymizer
from streams.domain.validation import to_epoch_ms
from streams.errors import BrokerError, DecodeError
from streams.runtime.auditlog import read_audit
from streams.runtime.registry import codec_for
from streams.runtime.topicread import CONNECT_TIMEOUT_S, cluster_metadata
from streams.settings import KafkaConf, Settings
from streams.wire.schemas import DISPUTE
from streams.worker.report import borrower_partitions


def read_disputes(settings: Settings, *, timeout: float = 10.0) -> dict[str, tuple[int, int]]:
    """``{platform: (open, overdue)}`` for every platform with a disputes topic, read
    by one consumer to the end of every partition; ``BrokerError`` after ``timeout``
    seconds without progress."""
    conf = settings.kafka_client_config()
    codec = codec_for(settings.schema_registry_url)
    now = int(time.time() * 1000)
    metadata = cluster_metadata(
        conf, timeout=CONNECT_TIMEOUT_S, purpose="list the platforms' disputes topics"
    )
    parts = [
        TopicPartition(name, p, OFFSET_BEGINNING)
        for name, topic in metadata.topics.items()
        if _is_disputes(name)
        for p in topic.partitions
    ]
    latest: dict[str, dict[bytes, dict[str, Any]]] = {
        topics.platform_of_disputes(tp.topic): {} for tp in parts
    }
    for msg in _read_to_end(conf, f"{settings.app_id}-status", parts, timeout):
        try:
            _, datum = codec.decode(msg.value() or b"", {DISPUTE})
        except DecodeError:
            continue  # only the exchange writes it: nothing to count
        latest[topics.platform_of_disputes(msg.topic() or "")][msg.key() or b""] = datum
    found: dict[str, tuple[int, int]] = {}
    for platform, by_id in sorted(latest.items()):
        still_open = [d for d in by_id.values() if d["status"] == "OPEN"]
        overdue = sum(to_epoch_ms(d["deadline"]) <= now for d in still_open)
        found[platform] = (len(still_open) - overdue, overdue)
    return found


def _is_disputes(topic: str) -> bool:
    try:
        topics.platform_of_disputes(topic)
    except ValueError:
        return False
    return True


def _read_to_end(
    conf: KafkaConf, group: str, parts: list[TopicPartition], timeout: float
) -> Iterator[Message]:
    """The committed records of ``parts`` up to each one's end (a group that never
    joins nor commits: reading disturbs nobody)."""
    if not parts:
        return
    consumer = Consumer(
        dict(conf)
        | {
            "group.id": f"{group}-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "isolation.level": "read_committed",
        }
    )
    try:
        consumer.assign(parts)
        pending = {(tp.topic, tp.partition) for tp in parts}
        last = time.monotonic()
        while pending:
            msg = consumer.poll(0.2)
            if msg is None:
                if time.monotonic() - last > timeout:
                    raise BrokerError(f"no progress reading the disputes topics for {timeout:g}s")
                continue
            last = time.monotonic()
            err = msg.error()
            if err is None:
                yield msg
            elif err.code() == KafkaError._PARTITION_EOF:
                pending.discard((msg.topic() or "", msg.partition() or 0))
            else:
                raise BrokerError(f"reading {msg.topic()} failed: {err.str()}")
    finally:
        consumer.close()


def deliveries_of(
    settings: Settings, pseudo: Pseudonymizer, national_id: str, *, timeout: float
) -> dict[str, Any]:
    """Every delivery of the person's data (``national_id`` normalized and valid):
    ``{"borrower", "deliveries": [...], "by_bank": {bank: n}, "chain_ok", "problems"}``,
    deliveries in partition then offset order; ``BrokerError`` or ``ConfigError`` when
    Kafka does not answer within ``timeout`` or the exchange's topics do not exist."""
    conf = settings.kafka_client_config()
    current, where = borrower_partitions(conf, pseudo, national_id, timeout)
    chains: dict[int, ChainVerifier] = {}
    found: list[dict[str, Any]] = []
    for entry in read_audit(
        conf,
        codec=codec_for(settings.schema_registry_url),
        idle_timeout=timeout,
        only=set(where.values()),
    ):
        chain = chains.get(entry.partition)
        if chain is None:
            start = GENESIS if entry.offset == 0 else None
            chain = chains[entry.partition] = ChainVerifier(start)
        chain.add(entry.offset, entry.datum)
        d = entry.datum
        if d is not None and d.get("borrower_id") in where:
            found.append(
                {
                    "delivered_at": iso_ms(int(d["delivered_at"])),
                    "bank": str(d["bank"]),
                    "purpose": str(d["purpose"]),
                    "consent_ref": str(d["consent_ref"]),
                    "customer_ref": str(d["customer_ref"]),
                    "profile_version": int(d["profile_version"]),
                    "partition": entry.partition,
                    "offset": entry.offset,
                }
            )
    problems = [str(p) for c in chains.values() for p in c.finish()]
    by_bank: dict[str, int] = {}
    for d in found:
        by_bank[d["bank"]] = by_bank.get(d["bank"], 0) + 1
    return {
        "borrower": f"{current[:8]}…",
        "deliveries": found,
        "by_bank": dict(sorted(by_bank.items())),
        "chain_ok": not problems,
        "problems": problems,
    }

"""Reading ``exchange.audit`` from the beginning to its end (regulator and billing CLIs).

:func:`read_audit` assigns every partition at its beginning with a throwaway consumer
group that never commits (reading disturbs nobody), ``read_committed`` so records of
aborted borrower-stage transactions never count, and stops when every partition has reported
its end (EOF events, not watermarks: transaction markers take offsets). It yields each
record in partition order as an :class:`AuditEntry`; a record that does not decode as an
``AuditRecord`` comes with ``datum=None`` (evidence for ``audit verify``, not a crash).

:func:`chain_heads` is what a writing stage needs on (re)start: the
:class:`streams.domain.audit.ChainHead` after the newest committed record of each partition.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, KafkaError, TopicPartition

from streams import topics
from streams.domain.audit import ChainHead
from streams.domain.validation import to_epoch_ms
from streams.errors import BrokerError, DecodeError
from streams.runtime.registry import codec_for
from streams.runtime.topicread import read_from_start
from streams.settings import KafkaConf
from streams.wire.codec import SniffingCodec
from streams.wire.schemas import AUDIT_RECORD


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One record of the audit topic; ``datum`` has ``delivered_at`` as epoch ms."""

    partition: int
    offset: int
    datum: dict[str, Any] | None


def read_audit(
    conf: KafkaConf,
    *,
    topic: str = topics.EXCHANGE_AUDIT,
    codec: SniffingCodec | None = None,
    idle_timeout: float = 30.0,
    partitions_out: list[int] | None = None,
    only: Iterable[int] | None = None,
) -> Iterator[AuditEntry]:
    """Every record of ``topic`` (see the module docstring); :class:`BrokerError` after
    ``idle_timeout`` seconds without progress, :class:`ConfigError` if it is missing.
    ``partitions_out``, when given, receives every partition number of the topic (empty
    partitions yield nothing, but a verifier still wants to report them). ``only``: read
    just these partitions (a borrower's records are all in one)."""
    codec = codec or codec_for(None)
    for msg in read_from_start(
        conf,
        topic,
        "creditstream-audit",
        missing="has the exchange been started?",
        idle_timeout=idle_timeout,
        partitions_out=partitions_out,
        only=only,
    ):
        yield AuditEntry(msg.partition() or 0, msg.offset() or 0, _decode(codec, msg.value()))


def chain_heads(
    conf: KafkaConf,
    partitions: list[int],
    *,
    topic: str = topics.EXCHANGE_AUDIT,
    codec: SniffingCodec | None = None,
    timeout: float = 30.0,
) -> dict[int, ChainHead]:
    """The head after the newest *committed* record of each of ``partitions``.

    Call it after the writing stage's transactional producer ran ``init_transactions``
    (that settles the earlier transactions of its ``transactional.id``). Reads back
    from the end in a growing window, ``read_committed``, and waits until the partition
    is readable up to its high watermark: a commit's markers land after the commit
    returns, and a head taken before them would miss the committed records. A newest
    record that does not decode raises :class:`BrokerError` (chaining after an unknown
    hash would hide it), as does a transaction still open after ``timeout``.
    """
    codec = codec or codec_for(None)
    group = {"group.id": f"creditstream-audit-head-{uuid.uuid4().hex[:8]}"}
    base = dict(conf) | group | {"enable.auto.commit": False, "enable.partition.eof": True}
    consumer = Consumer(base | {"isolation.level": "read_committed"})
    # A read_committed client's "latest offset" is the last stable offset, which lags
    # the log end until markers land; the true end needs a read_uncommitted query.
    probe = Consumer(base | {"isolation.level": "read_uncommitted"})
    heads: dict[int, ChainHead] = {}
    try:
        for p in partitions:
            low, high = probe.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout)
            window, last = 16, None
            while last is None and high > low:
                start = max(low, high - window)
                last = _last_in(consumer, (topic, p, start, high), codec, timeout)
                if start == low:
                    break  # nothing committed at all: the chain is still empty
                window *= 4
            heads[p] = ChainHead.after(last)
    finally:
        consumer.close()
        probe.close()
    return heads


def _last_in(
    consumer: Consumer, where: tuple[str, int, int, int], codec: SniffingCodec, timeout: float
) -> dict[str, Any] | None:
    """The last committed audit record in ``[start, high)`` of one partition."""
    topic, p, start, high = where
    consumer.assign([TopicPartition(topic, p, start)])
    last: dict[str, Any] | None = None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        msg = consumer.poll(0.5)
        if msg is None:
            continue
        err = msg.error()
        if err is not None:
            # EOF comes at the last stable offset; below ``high`` a transaction is
            # still undecided (or its markers not yet written): keep waiting.
            if err.code() == KafkaError._PARTITION_EOF:
                if (msg.offset() or 0) >= high:
                    return last
                continue
            raise BrokerError(f"reading {topic} failed: {err.str()}")
        datum = _decode(codec, msg.value())
        if datum is None:
            raise BrokerError(f"{topic} partition {p} offset {msg.offset()} is not an audit record")
        last = datum
    raise BrokerError(f"{topic} partition {p} not stable up to offset {high} within {timeout:.0f}s")


def _decode(codec: SniffingCodec, value: bytes | None) -> dict[str, Any] | None:
    if not value:
        return None
    try:
        _name, datum = codec.decode(value, {AUDIT_RECORD})
    except DecodeError:
        return None
    out = dict(datum)
    out["delivered_at"] = to_epoch_ms(out["delivered_at"])
    return out

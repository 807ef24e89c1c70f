"""Recovery of the borrower stage's partitions on assignment, before any input is read.

Two things come back per assigned partition p:

* the committed entries: ``exchange.borrower-state`` partition p replayed into the
  store as bytes (decoded lazily on first touch), with the expiry index rebuilt
  (:func:`restore`); progress is reported every ``REPORT_EVERY`` records and at the
  end, against the partitions' record count taken first;
* the hash chain head of ``exchange.audit`` partition p: the newest committed record's
  hash (:func:`audit_heads`). A crashed writer's open transaction hides the tail until
  the broker aborts it (the transaction timeout), so a head that cannot be read yet is
  retried, not guessed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from confluent_kafka import Consumer, TopicPartition

from streams import topics
from streams.domain.audit import ChainHead
from streams.errors import BrokerError
from streams.runtime.auditlog import chain_heads
from streams.runtime.changelog import replay_changelog
from streams.settings import KafkaConf
from streams.stages.borrower.store import BorrowerStore
from streams.wire.codec import SniffingCodec

log = logging.getLogger(__name__)
REPORT_EVERY = 50_000  # records between progress reports

#: ``report(records replayed since the last report, progress 0..1)``; the last report
#: of a recovery says 1.0 (transaction markers count in the total, not in the records).
Report = Callable[[int, float], None]


def restore(
    conf: KafkaConf,
    app_id: str,
    partitions: list[int],
    store: BorrowerStore,
    consumer: Consumer,
    report: Report,
) -> int:
    """Replay ``partitions`` of ``exchange.borrower-state`` into ``store``; returns the
    records replayed."""
    if not partitions:
        report(0, 1.0)
        return 0
    total = 0
    for p in partitions:
        low, high = consumer.get_watermark_offsets(
            TopicPartition(topics.BORROWER_STATE, p), timeout=10
        )
        total += max(0, high - low)
    report(0, 0.0 if total else 1.0)
    pending = seen = 0

    def on_record(p: int, key: bytes, value: bytes | None) -> None:
        nonlocal pending, seen
        store.load(p, key.decode(), value)
        pending += 1
        if pending >= REPORT_EVERY:
            seen += pending
            report(pending, min(1.0, seen / total))
            pending = 0

    count = replay_changelog(
        conf, topics.BORROWER_STATE, partitions, on_record, group_prefix=app_id
    )
    report(pending, 1.0)
    return count


def audit_heads(
    conf: KafkaConf, parts: list[int], codec: SniffingCodec, stopping: threading.Event
) -> dict[int, ChainHead]:
    """The audit chain heads of ``parts``, waiting out a crashed writer's open
    transaction (raises once ``stopping`` is set)."""
    while True:
        try:
            return chain_heads(conf, parts, codec=codec)
        except BrokerError as exc:
            if stopping.is_set():
                raise
            log.warning("audit chain heads not readable yet (%s); retrying", exc)
            time.sleep(1)

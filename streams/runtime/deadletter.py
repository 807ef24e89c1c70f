"""One bad-record path for the exchange's internal topics: ``exchange.dead-letter``.

Only the exchange writes ``exchange.events``, ``exchange.profile-updates`` and
``exchange.consents``, so a record a later stage cannot decode is a bug upstream, never
data to drop: the stage writes it, in the same transaction as the batch it came in, to
the dead-letter topic with its original bytes, keyed by where it was, and headers naming
the stage, the source topic/partition/offset and the reason (``streams.wire.rejects``);
it counts it (``creditstream_dead_letters_total``) after the commit, and a ratio guard
stops the stage when nearly everything is undecodable (a broken deploy, not a stray
record). The message holds the decoder's words, which for these pseudonymized topics
carry no national ID.
"""

from __future__ import annotations

from collections.abc import Callable

from confluent_kafka import Message, Producer

from streams import topics
from streams.errors import DecodeError
from streams.runtime.guard import RatioGuard
from streams.runtime.metrics import Metrics
from streams.wire.rejects import Reason, Reject

#: A decoder's message is cut to this length (a dead letter explains, it does not dump).
MESSAGE_MAX = 300


def dead_letter(stage: str, msg: Message, exc: Exception, now_ms: int) -> Reject:
    """The dead letter of ``msg``, which ``stage`` could not decode because of ``exc``."""
    reason = exc.reason if isinstance(exc, DecodeError) else str(Reason.MALFORMED)
    text = exc.message if isinstance(exc, DecodeError) else f"{type(exc).__name__}: {exc}"
    return Reject(
        source_topic=msg.topic() or "",
        source_partition=msg.partition() or 0,
        source_offset=msg.offset() or 0,
        reason=str(reason),
        message=text[:MESSAGE_MAX],
        rejected_at_ms=now_ms,
        original=msg.value() or b"",
        stage=stage,
    )


def produce_dead_letter(producer: Producer, letter: Reject) -> None:
    """Write ``letter`` (inside the caller's open transaction)."""
    producer.produce(
        topics.DEAD_LETTER, letter.original, letter.key.encode(), headers=letter.headers()
    )


def dead_letters_hook(metrics: Metrics, stage: str) -> Callable[[list[Reject]], None]:
    """Count a committed batch's dead letters by reason."""

    def on_dead(letters: list[Reject]) -> None:
        for letter in letters:
            metrics.dead_letters.labels(stage, letter.reason).inc()

    return on_dead


def dead_letter_guard(stage: str, ratio: float, window: int) -> RatioGuard:
    """A stage's guard: nearly every internal record undecodable means a broken deploy."""
    return RatioGuard(
        ratio,
        window,
        f"records {stage} read could not be decoded",
        f"stopping {stage} without committing them; check that every worker runs the "
        "same release (schemas, record formats)",
    )

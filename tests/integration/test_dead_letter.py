"""An internal record a stage cannot decode goes to exchange.dead-letter, whole, and is
counted; the stage goes on with the next record (a real worker on a private broker)."""

from __future__ import annotations

from confluent_kafka import Producer

from streams import topics
from streams.wire.rejects import from_headers
from tests.integration.kafka_helpers import consume_all
from tests.integration.workers import running_worker, worker_env
from tests.waiting import NotYet, eventually

JUNK = {
    topics.EXCHANGE_EVENTS: b"not an exchange event",
    topics.CONSENTS: b'{"f": 99}',
}
STAGE_OF = {
    topics.EXCHANGE_EVENTS: "borrower",
    topics.CONSENTS: "borrower",
}


def test_undecodable_internal_records_are_dead_lettered_and_counted(
    private_bootstrap: str,
) -> None:
    conf = {"bootstrap.servers": private_bootstrap}
    with running_worker(worker_env(private_bootstrap)) as worker:
        producer = Producer(conf | {"enable.idempotence": True, "acks": "all"})
        for topic, junk in JUNK.items():
            producer.produce(topic, junk, b"borrower-x")
        assert producer.flush(30) == 0

        def counted() -> float | NotYet:
            samples = worker.metrics()
            n = sum(
                v for (name, _), v in samples.items() if name == "creditstream_dead_letters_total"
            )
            return n if n >= len(JUNK) else NotYet(f"{n} dead letters counted")

        eventually(counted, what="every junk record counted as a dead letter", timeout=90)
        assert worker.alive(), worker.log()
    letters = consume_all(conf, topics.DEAD_LETTER, expected=len(JUNK), timeout=30)
    seen = {}
    for msg in letters:
        letter = from_headers(msg.headers(), msg.value())
        seen[letter.source_topic] = letter
        assert (msg.key() or b"").decode() == letter.key
    assert set(seen) == set(JUNK)
    for topic, letter in seen.items():
        assert letter.original == JUNK[topic]
        assert letter.stage == STAGE_OF[topic]
        assert letter.reason and letter.message

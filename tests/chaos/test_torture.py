"""Issue 7, bad-input torture: a real worker fed garbage at 1% and at 50% of its traffic.

Each run gets a broker of its own and a real ``creditstream worker`` process, then
publishes the seeded simulator's traffic with every bad slot filled by a torture family
of ``tests/chaos/badinput.py`` (random bytes of every length, the Avro and Confluent
magic bytes followed by garbage, truncations at every kind of cut point, wrong
fingerprints and schema ids, well-formed Avro breaking each validation rule, records
one byte over the size limit, as large as a default Kafka client sends and several MB
compressed). One of the simulated platforms is not provisioned at first: an operator
created its two ingest topics by hand, without its rejected topic; its records wait
unread (exported as waiting) until it is provisioned during the run. A few records go to
the loans topic of a platform that does not exist at all. Then, from the topics themselves:

* the worker never died, never restarted a stage, and logged no traceback;
* every bad record is in its platform's rejected topic exactly once, under its
  ``topic:partition:offset`` key, with its original bytes and the reason it deserves
  (records too large to copy whole keep their first bytes: see ``REJECT_COPY_MAX``);
* every good record is on exchange.events exactly once, as validation makes it, and
  nothing else is: accepted + rejected = sent;
* the worker's reject, event and forward counters agree with what was sent;
* the profiles on exchange.profile-updates equal the oracle's fold of the accepted
  events;
* a record for a platform without topics is refused by the broker and creates nothing.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaError, Message, Producer
from confluent_kafka.admin import AdminClient

from streams import topics
from streams.domain.privacy import Pseudonymizer, normalize_national_id
from streams.domain.validation import from_avro, to_exchange_event
from streams.runtime.provision import ensure_platform
from streams.runtime.registry import codec_for
from streams.stages.ingress.process import REJECT_COPY_MAX
from streams.wire.rejects import Reject, from_headers, reject_key
from streams.wire.schemas import EXCHANGE_EVENT, PROFILE_UPDATE
from tests.chaos.badinput import FAMILIES, Torture, TortureConfig, plan
from tests.integration.conftest import own_broker
from tests.integration.kafka_helpers import create_topics, unique
from tests.integration.test_profile_stage import _read_all, accepted_by_borrower, equals_oracle
from tests.integration.workers import TEST_HMAC_KEY, WorkerProcess, running_worker, worker_env
from tests.waiting import NotYet, eventually

pytestmark = [pytest.mark.integration]

EVENTS = 3000
PARTITIONS = 2
CODEC = codec_for(None)
HMAC = Pseudonymizer({1: TEST_HMAC_KEY}, 1)
Conf = dict[str, Any]
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture
def torture_bootstrap() -> Iterator[str]:
    """A broker of this run's own: the worker uses the fixed exchange topic names."""
    with own_broker("torture") as bootstrap:
        yield bootstrap


# -- sending --------------------------------------------------------------------------


def send(conf: Conf, records: list[Torture]) -> dict[int, tuple[str, int, int]]:
    """Send a plan; returns where each record landed (topic, partition, offset) by index."""
    common = {"enable.idempotence": True, "acks": "all", "partitioner": "murmur2_random"}
    # What a platform gets with default client settings (message.max.bytes 1e6).
    normal = Producer(conf | common | {"linger.ms": 5})
    # A platform that raised its client's limit and compresses: the broker checks the
    # compressed batch against max.message.bytes, so multi-MB records get in.
    big = Producer(
        conf | common | {"message.max.bytes": 64 * 1024 * 1024, "compression.type": "zstd"}
    )
    landed: dict[int, tuple[str, int, int]] = {}
    errors: list[str] = []
    for index, rec in enumerate(records):
        producer = big if rec.huge else normal

        def done(err: KafkaError | None, msg: Message, index: int = index) -> None:
            if err is not None:
                errors.append(f"{index}: {err}")
            else:
                landed[index] = (msg.topic() or "", msg.partition() or 0, msg.offset() or 0)

        while True:
            try:
                producer.produce(rec.topic, rec.value, rec.key, on_delivery=done)
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
    unsent = normal.flush(60) + big.flush(60)
    assert not errors and not unsent, (unsent, errors[:5])
    assert len(landed) == len(records)
    return landed


def unknown_platform_refused(conf: Conf, platform: str) -> list[str]:
    """Send to a platform that has no topics; return the delivery errors."""
    producer = Producer(
        conf | {"topic.metadata.propagation.max.ms": 1000, "message.timeout.ms": 10_000}
    )
    errors: list[str] = []

    def done(err: KafkaError | None, msg: Message) -> None:
        errors.append("delivered" if err is None else err.name())

    for value in (b"", b"\xc3\x01not-a-record"):
        producer.produce(topics.ingest_loans(platform), value, b"u", on_delivery=done)
    producer.flush(30)
    return errors


# -- reading --------------------------------------------------------------------------


class Tail:
    """Everything committed on exchange.events and every rejected topic, as it comes
    (a pattern subscription also finds rejected topics provisioned later). A new
    topic rebalances this reader, which commits nothing and so reads again from the
    start: records are kept by their position, each once."""

    def __init__(self, conf: Conf) -> None:
        self.consumer = Consumer(
            conf
            | {
                "group.id": unique("torture-tail"),
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
                "isolation.level": "read_committed",
                "topic.metadata.refresh.interval.ms": 1000,
            }
        )
        self.consumer.subscribe([rf"^(exchange\.events|ingest\.{topics.TENANT_RE}\.rejected)$"])
        self._seen: dict[tuple[str, int, int], Message] = {}

    @property
    def events(self) -> list[Message]:
        return [m for (t, _, _), m in self._seen.items() if t == topics.EXCHANGE_EVENTS]

    @property
    def rejects(self) -> list[Message]:
        return [m for (t, _, _), m in self._seen.items() if t != topics.EXCHANGE_EVENTS]

    def poll(self, seconds: float) -> int:
        """Read for ``seconds``; returns how many records were new."""
        deadline, new = time.monotonic() + seconds, 0
        while time.monotonic() < deadline:
            for msg in self.consumer.consume(1000, timeout=0.2):
                where = (msg.topic() or "", msg.partition() or 0, msg.offset() or 0)
                if msg.error() is None and where not in self._seen:
                    self._seen[where] = msg
                    new += 1
        return new

    def until(
        self, events: int, rejects: int, alive: Callable[[], bool], timeout: float = 120
    ) -> None:
        """Read until both counts are reached (stopping early if the worker died; the
        caller asserts it is alive), then a little longer so that anything extra shows
        up too. Fails if the counts are not reached within ``timeout``."""

        def reached() -> bool | NotYet:
            self.poll(0.5)
            if (len(self.events) >= events and len(self.rejects) >= rejects) or not alive():
                return True
            return NotYet(
                f"{len(self.events)}/{events} events, {len(self.rejects)}/{rejects} rejects"
            )

        eventually(reached, what="every record landed", timeout=timeout, interval=0)
        while self.poll(2.0):
            pass

    def close(self) -> None:
        self.consumer.close()


def metric(samples: Samples, name: str, **labels: str) -> float:
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= set(ls))


def waits(worker: WorkerProcess, tenant: str) -> bool:
    """Whether the (ready) worker exports ``tenant``'s partitions as waiting."""
    name = "creditstream_tenant_partitions_waiting"
    return bool(metric(worker.metrics(), name, stage="ingress", tenant=tenant))


# -- the test -------------------------------------------------------------------------


@pytest.mark.parametrize(("bad_share", "seed"), [(0.01, 71), (0.5, 72)], ids=["1pct", "50pct"])
def test_bad_input_never_crashes_and_every_record_is_accounted_for(
    torture_bootstrap: str, bad_share: float, seed: int
) -> None:
    conf: Conf = {"bootstrap.servers": torture_bootstrap}
    config = TortureConfig(
        now_ms=time.time_ns() // 1_000_000,
        events=EVENTS,
        bad_share=bad_share,
        seed=seed,
        platforms=4,
        borrowers=300,
        platform_prefix=f"t{seed}-",
    )
    records = plan(config)
    names = config.platform_names()
    ghost = names[-1]  # not provisioned at first: ingest topics made by hand, no rejected one
    for name in names[:-1]:
        ensure_platform(conf, name, PARTITIONS)
    create_topics(conf, [topics.ingest_loans(ghost), topics.ingest_activity(ghost)], PARTITIONS)
    nowhere = f"t{seed}-nowhere"  # no topics at all
    good = [r for r in records if r.good]
    bad = [r for r in records if not r.good]
    kinds = Counter(r.kind for r in bad)
    assert {r.platform for r in bad} == {r.platform for r in good} == set(names)
    assert {k.split("/")[0] for k in kinds} == set(FAMILIES)  # at 1% too
    assert kinds["oversize/multi-MB"] and kinds["oversize/default-client-max"]
    assert kinds["sim/DUPLICATE_EVENT"]

    env = worker_env(torture_bootstrap, CREDITSTREAM_PROFILE_SPEND_MATERIAL_RATIO="0")
    tail = Tail(conf)
    try:
        with running_worker(env) as worker:
            landed = send(conf, records)
            refused = unknown_platform_refused(conf, nowhere)
            # The ghost is not provisioned: its records wait unread (not lost, not refused)
            # and say so, until provisioning makes its rejected topic.
            eventually(lambda: waits(worker, ghost), what="the unprovisioned platform waits")
            ensure_platform(conf, ghost, PARTITIONS)
            tail.until(events=len(good), rejects=len(bad), alive=worker.alive)
            assert worker.alive(), "the worker died:\n" + worker.log()[-3000:]
            check_profiles_eventually(conf, worker)
            samples = worker.metrics()
            exit_code = worker.stop()
            log = worker.log()
    finally:
        tail.close()

    # -- the worker survived, quietly -----------------------------------------------------
    assert exit_code == 0, log[-3000:]
    assert "Traceback" not in log, log[log.index("Traceback") - 200 :][:3000]
    assert metric(samples, "creditstream_stage_restarts_total") == 0
    assert metric(samples, "creditstream_ready", stage="ingress") == 1

    # -- where every record landed ----------------------------------------------------------
    by_key = {reject_key(*landed[i]): r for i, r in enumerate(records)}
    check_rejects(tail.rejects, {k: r for k, r in by_key.items() if not r.good}, good)
    check_events(tail.events, good, config.now_ms)
    assert len(tail.events) + len(tail.rejects) == len(records)

    # -- counters agree with what was sent ------------------------------------------------
    rejects = [from_headers(m.headers(), m.value()) for m in tail.rejects]
    by_reason = Counter((r.source_topic.split(".")[1], r.reason) for r in rejects)
    for (platform, reason), n in by_reason.items():
        assert metric(samples, "creditstream_rejects_total", platform=platform, reason=reason) == n
    for platform in names:
        sent_bad = sum(1 for r in bad if r.platform == platform)
        sent_good = sum(1 for r in good if r.platform == platform)
        assert metric(samples, "creditstream_rejects_total", platform=platform) == sent_bad
        assert metric(samples, "creditstream_events_in_total", platform=platform) == sent_good
    assert metric(samples, "creditstream_events_forwarded_total") == len(good)
    assert metric(samples, "creditstream_rejects_total") == len(bad)

    # -- the ghost was served once provisioned; the platform without topics got nothing ---
    assert metric(samples, "creditstream_tenant_partitions_waiting") == 0
    listed = AdminClient(conf).list_topics(timeout=10).topics
    assert refused and "delivered" not in refused, refused
    assert not [t for t in listed if nowhere in t]

    print(f"\n{len(bad)} bad records of {len(kinds)} kinds, {len(good)} good; {refused}")


def check_rejects(msgs: list[Message], expected: dict[str, Torture], good: list[Torture]) -> None:
    seen: dict[str, Reject] = {}
    twice = []
    for m in msgs:
        reject = from_headers(m.headers(), m.value())
        if reject.key in seen:
            twice.append(reject.key)
        seen[reject.key] = reject
        assert (m.key() or b"").decode() == reject.key
        platform = (topics.platform_of(reject.source_topic) or ("?", ""))[0]
        assert m.topic() == topics.rejected(platform), (m.topic(), reject.source_topic)
    assert not twice, f"rejected twice: {twice[:5]}"
    missing = sorted(set(expected) - set(seen))
    extra = sorted(set(seen) - set(expected))
    assert not missing, [(k, expected[k].kind) for k in missing[:10]]
    assert not extra, [(k, seen[k].reason, seen[k].message) for k in extra[:10]]
    wrong = [
        (rec.kind, seen[k].reason, seen[k].message)
        for k, rec in expected.items()
        if seen[k].reason not in rec.reasons
    ]
    assert not wrong, f"{len(wrong)} wrong reasons, e.g. {wrong[:10]}"
    ids = {str(r.datum["national_id"]) for r in good if r.datum}
    needles = ids | {normalize_national_id(i) for i in ids}
    for k, rec in expected.items():
        reject, sent = seen[k], rec.value or b""
        if len(sent) <= REJECT_COPY_MAX:
            assert reject.original == sent, (rec.kind, len(reject.original), len(sent))
        else:  # too large to copy whole: the first bytes, and the message says so
            assert reject.original == sent[:REJECT_COPY_MAX], rec.kind
            assert str(len(sent)) in reject.message, reject.message
        assert reject.message and not any(n in reject.message for n in needles)


def check_events(msgs: list[Message], good: list[Torture], now_ms: int) -> None:
    decoded = [from_avro(CODEC.decode(m.value() or b"", {EXCHANGE_EVENT})[1]) for m in msgs]
    got = Counter((e.platform, e.event_id) for e in decoded)
    assert [k for k, n in got.items() if n > 1] == [], "an event was forwarded twice"
    want = {(r.platform, r.event_id) for r in good}
    assert len(want) == len(good)
    assert set(got) == want, (sorted(set(got) - want)[:5], sorted(want - set(got))[:5])
    by_id = {(e.platform, e.event_id): e for e in decoded}
    for rec in good:
        assert rec.datum is not None and rec.schema_name is not None
        expect = to_exchange_event(rec.platform, rec.schema_name, rec.datum, HMAC, now_ms, 0)
        e = by_id[(rec.platform, expect.event_id)]
        assert (e.borrower_id, e.occurred_at_ms, e.loan, e.activity) == (
            expect.borrower_id,
            expect.occurred_at_ms,
            expect.loan,
            expect.activity,
        )


def profiles_match(conf: Conf) -> bool | NotYet:
    """True when every borrower's latest profile update equals the oracle's fold of the
    accepted events as of that update (material fields), else what differs."""
    by_bid = accepted_by_borrower(conf)
    latest: dict[str, dict[str, Any]] = {}
    for m in _read_all(conf, topics.PROFILE_UPDATES):
        _, datum = CODEC.decode(m.value() or b"", {PROFILE_UPDATE})
        latest[datum["borrower_id"]] = datum  # per-borrower order is partition order
    if set(latest) != set(by_bid):
        return NotYet(f"{len(set(by_bid) - set(latest))} borrowers without a profile yet")
    for bid, events in by_bid.items():
        if not equals_oracle(latest[bid]["profile"], bid, events):
            return NotYet(f"borrower {bid[:8]} differs from the oracle")
    return True


def check_profiles_eventually(conf: Conf, worker: WorkerProcess) -> None:
    def check() -> bool | NotYet:
        assert worker.alive(), "the worker died:\n" + worker.log()[-3000:]
        return profiles_match(conf)

    eventually(check, what="profiles equal the oracle", timeout=120)

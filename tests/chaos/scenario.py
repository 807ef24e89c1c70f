"""A seeded chaos run: simulated platforms and banks against workers and a broker that
are killed, paused and scaled while they work; then the checker's counts.

The driver thread executes a schedule (``schedule(plan)``, pure and seeded):

* worker SIGKILLs at jittered intervals, each followed 0.5-3 s later by a restart of
  the same slot (same identity, as a supervisor would);
* broker SIGKILLs, each restarted after 1-3 s on the same data;
* SIGSTOP of a worker for longer than the session timeout, then SIGCONT: the group
  moves its partitions away meanwhile, so on waking it is a zombie that must not
  commit anything;
* scale 1 -> 2 workers early, 2 -> 1 late (SIGTERM);
* consent changes mid-run: revocations, late subscriptions, a consent that expires;
* borrowers' rights mid-run (``tests.chaos.rights``): objections against loans the
  platforms reported (one of a borrower whose consent was revoked, one against a loan
  nobody reported), left to expire at a deadline of seconds, then erasures.

Meanwhile one producer thread sends the simulator's records (1 % bad) at a steady
pace. When the load is done and the schedule spent, every wanted worker is (re)started
and the run waits for the pipeline to go quiet; then ``checker.check`` reads it all.
"""

from __future__ import annotations

import heapq
import random
import threading
import time
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

from streams import topics
from streams.clock import DAY_MS
from streams.domain.privacy import Pseudonymizer, normalize_national_id
from streams.localkafka.install import install
from streams.localkafka.transactions import abort_hanging, find_hanging
from streams.runtime.provision import ensure_bank, ensure_platform
from streams.runtime.registry import codec_for
from streams.sdk.rights import file_dispute, file_erasure
from streams.sdk.subscriber import BankSubscriber
from streams.settings import Settings
from streams.simulator.load import SimConfig, SimRecord, generate, national_ids
from tests.chaos.checker import Consent, Counts, Sent, check
from tests.chaos.cluster import SESSION_TIMEOUT_MS, ChaosBroker, Journal, WorkerPool, tail
from tests.chaos.progress import behind, stage_inputs
from tests.chaos.rights import DEADLINE_S, Filed, open_disputes, pick_disputes
from tests.integration.kafka_helpers import unique
from tests.integration.workers import TEST_HMAC_KEY

PARTITIONS = 4
RESTARTED = "restarting it in"  # what streams.runtime.host logs for an in-place restart
BANKS = ("alpha", "beta")
REVOKED = 3  # alpha revokes its consents of borrowers 0..2 mid-run
HMAC = Pseudonymizer({1: TEST_HMAC_KEY}, 1)


@dataclass(frozen=True)
class Plan:
    """How much load and how much chaos."""

    seed: int
    events: int
    borrowers: int
    load_s: float  # the load is spread over this long; the chaos happens meanwhile
    worker_kills: int
    broker_kills: int
    pauses: int
    subscribed: int = 60  # borrowers each bank subscribes at the start
    disputes: int = 4  # objections filed mid-run (plus one against no loan)
    erasures: int = 2


SHORT = Plan(
    seed=7, events=5000, borrowers=500, load_s=70, worker_kills=6, broker_kills=1, pauses=1
)
LONG = Plan(
    seed=11, events=24000, borrowers=2000, load_s=300, worker_kills=24, broker_kills=3, pauses=2
)

Action = tuple[float, int, str, int]  # (at seconds, tie-break, kind, slot or -1)


def schedule(plan: Plan) -> list[Action]:
    """The run's actions in time order (seeded; the kill targets are chosen at run time
    among the workers then running, recorded as slot -1)."""
    rnd = random.Random(plan.seed)
    span = plan.load_s
    acts: list[tuple[float, str, int]] = [
        (0.08 * span, "scale-up", 1),
        (0.85 * span, "scale-down", 1),
        (0.30 * span, "consents-expiring", -1),
        (0.45 * span, "consents-change", -1),
        (0.50 * span, "disputes", -1),
        (0.60 * span, "erasures", -1),
    ]
    for k in range(plan.worker_kills):
        at = span * (0.05 + 0.9 * (k + rnd.random()) / plan.worker_kills)
        acts.append((at, "worker-kill", -1))
    # Broker kills early, pauses late: a zombie waking while the broker is down would
    # test the outage, not the fencing.
    for k in range(plan.broker_kills):
        at = span * (0.15 + 0.3 * (k + 0.5) / plan.broker_kills) + rnd.uniform(-2, 2)
        acts.append((at, "broker-kill", -1))
    for k in range(plan.pauses):
        acts.append((span * (0.55 + 0.25 * k / max(1, plan.pauses)), "worker-pause", -1))
    return [(at, i, kind, slot) for i, (at, kind, slot) in enumerate(sorted(acts))]


class Load(threading.Thread):
    """Sends the simulator's records at a steady pace; remembers what was sent."""

    def __init__(self, bootstrap: str, records: list[SimRecord], seconds: float) -> None:
        super().__init__(name="chaos-load", daemon=True)
        self.records, self.seconds = records, seconds
        self.producer = Producer(
            {
                "bootstrap.servers": bootstrap,
                "enable.idempotence": True,
                "acks": "all",
                "linger.ms": 20,
                "partitioner": "murmur2_random",
                # The broker is down for seconds at a time: keep retrying, never drop.
                "message.timeout.ms": 600_000,
            }
        )
        self.failed: list[str] = []
        self.codec = codec_for(None)
        self.pace = seconds / max(1, len(records))
        self.began = time.monotonic()

    def hurry(self, records: int) -> None:
        """Send the next ``records`` at once (a burst keeps every stage busy)."""
        self.began -= records * self.pace

    def run(self) -> None:
        self.began = time.monotonic()
        for n, rec in enumerate(self.records):
            wait = self.began + n * self.pace - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            value = (
                rec.raw
                if rec.raw is not None
                else self.codec.encode(rec.schema_name, rec.datum or {})
            )
            self._produce(rec.topic, value, rec.key.encode())
        if self.producer.flush(600) != 0:
            self.failed.append("flush left records undelivered")

    def _produce(self, topic: str, value: bytes, key: bytes) -> None:
        while True:
            try:
                self.producer.produce(topic, value, key, on_delivery=self._delivered)
                self.producer.poll(0)
                return
            except BufferError:
                self.producer.poll(0.5)

    def _delivered(self, err: Any, msg: Any) -> None:
        if err is not None:
            self.failed.append(str(err))


class ChaosRun:
    """One run of a plan; ``run()`` returns the checker's counts."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.journal = Journal()
        self.broker = ChaosBroker(self.journal)
        self.conf = {"bootstrap.servers": self.broker.bootstrap}
        self.settings = Settings(bootstrap=self.broker.bootstrap)
        self.rnd = random.Random(plan.seed + 1)
        self.config = SimConfig(
            now_ms=int(time.time() * 1000),
            platforms=3,
            borrowers=plan.borrowers,
            events=plan.events,
            bad_share=0.01,
            seed=plan.seed,
            period_ms=40 * DAY_MS,  # recent: windows are full when profiles are read
            platform_prefix=unique("c")[:10],
        )
        self.app_id = unique("chaos")
        self.inputs: dict[str, list[str]] = {}
        self.pool = WorkerPool(
            self.broker.bootstrap,
            2,
            self.journal,
            CREDITSTREAM_APP_ID=self.app_id,
            CREDITSTREAM_PARTITIONS=str(PARTITIONS),
            CREDITSTREAM_DISPUTE_DEADLINE_DAYS=str(DEADLINE_S / 86_400),
        )
        self.wanted = {0}
        self.load: Load | None = None
        self.restarts_before_pause = 0
        self._next_hang_check = 0.0
        self.consents: list[Consent] = []
        self.nids = national_ids(self.config, 2 * plan.subscribed + 20)
        self.records: list[SimRecord] = []
        self.filed: list[Filed] = []

    # -- consents ---------------------------------------------------------------------
    def _consent(self, sub: BankSubscriber, i: int, expires: datetime | None = None) -> None:
        bank = sub.bank
        ref = f"{bank}-cust-{i}"
        until = expires or datetime.now(UTC) + timedelta(days=365)
        sub.subscribe(self.nids[i], ref, f"{bank}-consent-{i}", "ACCOUNT_REVIEW", until)
        now = int(time.time() * 1000)
        ends = None if expires is None else int(expires.timestamp() * 1000)
        self.consents.append(Consent(bank, ref, HMAC.borrower_id(self.nids[i]), now, ends_ms=ends))

    def _revoke(self, sub: BankSubscriber, i: int) -> None:
        bank = sub.bank
        ref = f"{bank}-cust-{i}"
        sub.revoke(ref, self.nids[i], f"{bank}-consent-{i}")
        now = int(time.time() * 1000)
        self.consents = [
            Consent(c.bank, c.customer_ref, c.borrower_id, c.subscribed_ms, now, revoked=True)
            if (c.bank, c.customer_ref) == (bank, ref)
            else c
            for c in self.consents
        ]

    def _bank(self, bank: str) -> BankSubscriber:
        return BankSubscriber(bank, self.settings, flush_timeout=120)

    def _subscribe_initial(self) -> None:
        n = self.plan.subscribed
        with self._bank("alpha") as alpha, self._bank("beta") as beta:
            for i in range(n):  # alpha: 0..n-1, beta: n/2..3n/2-1 (overlapping)
                self._consent(alpha, i)
                self._consent(beta, n // 2 + i)

    def _change_consents(self) -> None:
        n = self.plan.subscribed
        with self._bank("alpha") as alpha, self._bank("beta") as beta:
            for i in range(REVOKED):
                self._revoke(alpha, i)
            for i in range(5):  # late subscriptions: answered with a snapshot
                self._consent(beta, 2 * n + i)
        self.journal.note("consents", "alpha revoked 3, beta subscribed 5 more")

    def _expiring(self) -> None:
        n = self.plan.subscribed
        with self._bank("alpha") as alpha:
            self._consent(alpha, 2 * n + 10, datetime.now(UTC) + timedelta(seconds=12))
        self.journal.note("consents", "alpha subscribed 1 expiring in 12 s")

    # -- rights -----------------------------------------------------------------------
    def _disputes(self) -> None:
        """Objections against loans sent early: of a borrower whose consent alpha revoked
        (owed a correction notice) and of others alpha subscribed, and one against no
        loan."""
        revoked = pick_disputes(self.records, self.nids, list(range(REVOKED)))[:1]
        others = pick_disputes(self.records, self.nids, list(range(10, self.plan.subscribed)))
        picked = revoked + others[: self.plan.disputes - len(revoked)]
        assert revoked and len(picked) == self.plan.disputes, "the load has too few loans"
        for i, platform, loan_id in picked:
            ref = f"alpha-cust-{i}" if i < REVOKED else ""
            self._file_dispute(i, platform, loan_id, notice_ref=ref)
        self._file_dispute(9, picked[0][1], "no-such-loan", bogus=True)
        self.journal.note("disputes", f"{len(picked)} + 1 against no loan")

    def _file_dispute(
        self, i: int, platform: str, loan_id: str, *, bogus: bool = False, notice_ref: str = ""
    ) -> None:
        nid = normalize_national_id(self.nids[i])
        rid = file_dispute(self.settings, HMAC, nid, platform, loan_id, "wrong", "chaos")
        bid = HMAC.borrower_id(nid)
        self.filed.append(Filed("DISPUTE", rid, bid, platform, loan_id, bogus, notice_ref))

    def _erasures(self) -> None:
        """Erasures of borrowers alpha subscribed (their banks keep their consent)."""
        for i in range(30, 30 + self.plan.erasures):
            nid = normalize_national_id(self.nids[i])
            rid = file_erasure(self.settings, HMAC, nid, "chaos")
            self.filed.append(Filed("ERASURE", rid, HMAC.borrower_id(nid)))
        self.journal.note("erasures", f"{self.plan.erasures}")

    # -- the run ----------------------------------------------------------------------
    def run(self) -> Counts:
        records = self.records = list(generate(self.config, codec_for(None).encode))
        platforms = sorted({r.platform for r in records})
        for platform in platforms:
            ensure_platform(self.conf, platform, PARTITIONS)
        self.inputs = stage_inputs(platforms, list(BANKS))
        for bank in BANKS:
            ensure_bank(self.conf, bank, PARTITIONS)
        self.pool.start(0)
        self._subscribe_initial()
        load = self.load = Load(self.broker.bootstrap, records, self.plan.load_s)
        load.start()
        self._drive()
        load.join()
        assert not load.failed, load.failed[:5]
        self._settle()
        sent = [
            Sent(r.platform, r.event_id if r.bad is None else None, r.bad.reason if r.bad else None)
            for r in records
        ]
        counts = check(self.conf, sent, self.consents, list(BANKS), self.filed)
        for action, n in sorted(self.journal.counts.items()):
            print(f"  {action:<22} {n}")
        print(f"  {'stage restarts (logs)':<22} {self.pool.logged(RESTARTED)}")
        print(counts.render())
        return counts

    def _drive(self) -> None:
        began = self.journal.began = time.monotonic()  # the schedule counts from the load
        self.journal.note("load-start", f"{len(self.pool.slots)} slots")
        heap: list[Action] = list(schedule(self.plan))
        heapq.heapify(heap)
        seq = len(heap)
        while heap:
            at, _, kind, slot = heapq.heappop(heap)
            wait = began + at - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            self._reap()
            for follow in self._act(kind, slot):
                seq += 1
                heapq.heappush(
                    heap, (time.monotonic() - began + follow[0], seq, follow[1], follow[2])
                )

    def _act(self, kind: str, slot: int) -> list[tuple[float, str, int]]:
        """Do one action; returns follow-ups as (delay s, kind, slot)."""
        pool = self.pool
        if kind == "scale-up":
            self.wanted.add(slot)
            pool.start(slot)
        elif kind == "scale-down":
            self.wanted.discard(slot)
            pool.stop(slot)
        elif kind in ("worker-kill", "worker-pause") and not pool.running():
            return [(2.0, kind, slot)]  # every worker is down right now: a little later
        elif kind == "worker-kill":
            victim = self.rnd.choice(pool.running())
            pool.crash(victim)
            return [(self.rnd.uniform(0.5, 3.0), "worker-restart", victim)]
        elif kind == "worker-restart":
            if slot in self.wanted and not pool.slots[slot].alive():
                pool.start(slot)
        elif kind == "broker-kill":  # down for 1-3 s; nothing else happens meanwhile
            self.broker.crash()
            time.sleep(self.rnd.uniform(1.0, 3.0))
            self.broker.restart()
        elif kind == "worker-pause":
            victim = self.rnd.choice(pool.running())
            # A burst first, so the victim is most likely inside a transaction when it
            # freezes: on waking it must find that transaction fenced.
            if self.load is not None:
                self.load.hurry(2000)
            time.sleep(0.2)
            pool.pause(victim)
            self.restarts_before_pause = pool.slots[victim].log().count(RESTARTED)
            return [(SESSION_TIMEOUT_MS / 1000 + 6, "worker-resume", victim)]
        elif kind == "worker-resume":
            if pool.slots[slot].proc is not None:
                pool.resume(slot)
                return [(8.0, "zombie-check", slot)]
        elif kind == "zombie-check":  # did the zombie find its stale work fenced?
            fenced = pool.slots[slot].log().count(RESTARTED) - self.restarts_before_pause
            self.journal.note(
                "zombie-fenced" if fenced else "zombie-idle",
                f"#{slot}: {fenced} stage(s) restarted",
            )
        elif kind == "consents-change":
            self._change_consents()
        elif kind == "consents-expiring":
            self._expiring()
        elif kind == "disputes":
            self._disputes()
        elif kind == "erasures":
            self._erasures()
        return []

    def _reap(self) -> None:
        for i in self.pool.reap():  # died by itself: counted, and restarted like any crash
            print(f"--- worker {i} died unasked; its log ---\n{tail(self.pool.slots[i].log())}")
            if i in self.wanted:
                self.pool.start(i)

    def _settle(self, timeout: float = 240) -> None:
        """Bring every wanted worker up and wait until all are ready, the outputs have
        stopped moving (everything sent has been processed) and every objection filed
        has been closed (its deadline is a timer, not an input)."""
        for i in sorted(self.wanted):
            if not self.pool.slots[i].alive():
                self.pool.start(i)
        watched = [topics.EXCHANGE_EVENTS, topics.PROFILE_UPDATES, topics.EXCHANGE_AUDIT]
        watched += [topics.feed(b) for b in BANKS] + [topics.RIGHTS_LOG]
        deadline, last, quiet, lagging = time.monotonic() + timeout, None, 0, ["?"]
        while time.monotonic() < deadline and quiet < 3:
            time.sleep(4)
            self._reap()
            now = (self._ends(watched), self._all_ready())
            if now == last and now[1]:
                # Quiet outputs can be a stall: also require every group caught up, and
                # the objections' deadlines passed and acted on.
                lagging = behind(self.conf, self.app_id, self.inputs, PARTITIONS)
                lagging += open_disputes(self.conf, self.filed)
                quiet = 0 if lagging else quiet + 1
            else:
                quiet = 0
                lagging = [] if now[1] else ["a stage is not ready"]
            # Outputs still, and a stage behind or unready (its recovery waits behind a
            # transaction open past its timeout: streams.runtime.changelog): a hanging
            # transaction may hold it.
            stalled = last is not None and now[0] == last[0] and bool(lagging)
            if stalled and time.monotonic() >= self._next_hang_check:
                self._next_hang_check = time.monotonic() + 20  # a JVM start each
                self._abort_hanging()
            last = now
        if quiet >= 3:
            self.journal.note("settled")
        else:
            self.journal.note("settle-timeout", f"behind: {', '.join(lagging[:8])}")
            print(f"--- settle timed out; stages behind: {lagging}")

    def _abort_hanging(self) -> None:
        """Do what an operator does for a stage stalled behind a hanging transaction
        (one the broker's SIGKILL can leave: ``streams.localkafka.transactions``):
        find it and abort it. Counted in the journal; the checks that follow are the
        same."""
        libs = install(self.broker.spec.cache_dir, self.broker.spec.version)
        for hanging in find_hanging(libs, self.broker.bootstrap):
            aborted = abort_hanging(libs, self.broker.bootstrap, hanging)
            self.journal.note("hanging-aborted" if aborted else "hanging-ended", str(hanging))

    def _ends(self, names: list[str]) -> tuple[int, ...]:
        reader = Consumer(self.conf | {"group.id": unique("ends")})
        try:
            return tuple(
                reader.get_watermark_offsets(TopicPartition(t, p), timeout=10)[1]
                for t in names
                for p in range(PARTITIONS)
            )
        except KafkaException:
            return ()
        finally:
            reader.close()

    def _all_ready(self) -> bool:
        for i in sorted(self.wanted):
            port = self.pool.slots[i].env["CREDITSTREAM_WEB_PORT"]
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=5) as r:
                    if r.status != 200:
                        return False
            except OSError:
                return False
        return True

    def unasked_exits(self) -> int:
        return sum(len(s.exits) for s in self.pool.slots)

    def close(self) -> None:
        try:
            self.pool.close()
        finally:
            self.broker.close()

"""Deterministic load generator: realistic borrowers on several platforms, plus bad records.

Pure: no Kafka import, no clock, no global randomness. ``generate(config, encode)``
yields exactly ``config.events`` :class:`SimRecord` in non-decreasing time over
``[now - period, now]``; the same config and encoder always give the same records.

* Good records (``bad is None``) are valid events (``streams.domain.validation.validate_event``
  accepts them at any clock from ``now`` until ``now + retention - period``): send
  them with ``PlatformProducer.send_loan``/``send_activity``; ``raw`` is None.
* Bad records carry ``raw`` (the exact bytes to send with ``send_raw`` on
  ``topic_kind``) and ``bad``, whose ``.reason`` is the code the ingress must give.
  Every :class:`~streams.wire.rejects.Reason` has a :class:`BadKind`; the kinds are dealt
  round-robin (reshuffled each round), so ``round(events * bad_share) >= len(BadKind)``
  covers them all. A DUPLICATE_EVENT record re-sends an earlier good record's exact
  bytes with its key (so to the same partition, after it). Every other bad record has
  an event_id of its own, so dedup can never hide its real reason.

Assumptions the reasons rely on: the ingress checks size before decoding, decodes
``loans`` topics expecting only LoanEvent, and runs with a clock within 30 days of
``now``; FUTURE_TIMESTAMP records are 30-90 days ahead and TOO_OLD ones 30-400 days
beyond ``retention_ms``.
"""

from __future__ import annotations

import heapq
import random
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from itertools import islice
from typing import Any, Literal

from streams import topics
from streams.clock import DAY_MS
from streams.domain.validation import DEFAULT_LIMITS
from streams.errors import ConfigError
from streams.simulator.borrower import PERSONA_WEIGHTS, Persona
from streams.simulator.life import Ev, Life, ts
from streams.simulator.personas import PERSONAS
from streams.simulator.platforms import platform_specs
from streams.wire.rejects import Reason
from streams.wire.schemas import ACTIVITY_EVENT, LOAN_EVENT

Encode = Callable[[str, Mapping[str, Any]], bytes]
TopicKind = Literal["loans", "activity"]


class BadKind(StrEnum):
    """How a bad record is broken; ``.reason`` is what the ingress must answer."""

    NOT_AVRO = "NOT_AVRO"  # random bytes or a JSON text, no Avro header
    UNKNOWN_SCHEMA = "UNKNOWN_SCHEMA"  # valid body behind an unknown fingerprint / id
    WRONG_SCHEMA = "WRONG_SCHEMA"  # an ActivityEvent sent to the loans topic
    TRUNCATED = "TRUNCATED"  # the last 1-8 bytes cut off
    MALFORMED = "MALFORMED"  # 1-16 garbage bytes after a complete body
    MISSING_FIELD = "MISSING_FIELD"  # a required string left empty
    INVALID_FIELD = "INVALID_FIELD"  # national ID of punctuation only, or term of 0
    NEGATIVE_AMOUNT = "NEGATIVE_AMOUNT"
    UNKNOWN_CURRENCY = "UNKNOWN_CURRENCY"
    FUTURE_TIMESTAMP = "FUTURE_TIMESTAMP"
    TOO_OLD = "TOO_OLD"
    INVALID_DAYS_PAST_DUE = "INVALID_DAYS_PAST_DUE"  # negative or beyond the limit
    OVERSIZE = "OVERSIZE"  # a well-formed event padded past max_record_bytes
    DUPLICATE_EVENT = "DUPLICATE_EVENT"  # an earlier good record sent again

    @property
    def reason(self) -> Reason:
        return Reason(self.value)


@dataclass(frozen=True, slots=True)
class SimConfig:
    """What to simulate. ``now_ms`` is explicit so runs are reproducible."""

    now_ms: int
    platforms: int = 6
    borrowers: int = 200
    events: int = 2000
    bad_share: float = 0.01
    seed: int = 1
    period_ms: int = 180 * DAY_MS
    platform_prefix: str = ""  # e.g. a test's unique prefix; names stay valid tenants
    max_record_bytes: int = DEFAULT_LIMITS.max_record_bytes
    retention_ms: int = DEFAULT_LIMITS.retention_ms
    max_days_past_due: int = DEFAULT_LIMITS.max_days_past_due

    def __post_init__(self) -> None:
        if not 1 <= self.platforms <= 64:
            raise ConfigError("platforms must be 1..64")
        if self.borrowers < 1 or self.events < 0:
            raise ConfigError("borrowers must be >= 1 and events >= 0")
        if not 0.0 <= self.bad_share <= 0.5:
            raise ConfigError("bad share must be between 0 and 0.5")
        if not DAY_MS <= self.period_ms <= self.retention_ms - 30 * DAY_MS:
            raise ConfigError("period must be at least a day and 30 days shorter than retention")
        bad = [n for n in platform_names(self) if not topics.valid_tenant(n)]
        if bad:
            raise ConfigError(f"platform prefix gives invalid platform names: {bad[0]!r}")


@dataclass(frozen=True, slots=True)
class SimRecord:
    """One record to send. ``datum`` is None only for bytes that are not an event at all."""

    platform: str
    schema_name: str  # full schema name of the datum (for WRONG_SCHEMA: ActivityEvent)
    key: str  # the platform's user_key: the Kafka key
    datum: dict[str, Any] | None
    bad: BadKind | None
    raw: bytes | None  # exact bytes to send (bad records only)
    topic_kind: TopicKind
    at_ms: int
    persona: Persona

    @property
    def topic(self) -> str:
        if self.topic_kind == "loans":
            return topics.ingest_loans(self.platform)
        return topics.ingest_activity(self.platform)

    @property
    def event_id(self) -> str | None:
        return None if self.datum is None else str(self.datum["event_id"])


def platform_names(config: SimConfig) -> list[str]:
    """The platforms a config simulates, in order."""
    return [s.name for s in platform_specs(config.platforms, config.platform_prefix)]


def national_ids(config: SimConfig, count: int) -> list[str]:
    """The national IDs (as the first platform holding each stores them) of the first
    ``count`` borrowers of ``config``'s population: what a simulated bank subscribes
    with. Depends on the seed and the platforms, not on the number of events."""
    lives = _lives(config, 0)[: max(0, count)]
    return [next(iter(life.ids.values())) for life, _events in lives]


def _kind_of(schema_name: str) -> TopicKind:
    return "loans" if schema_name == LOAN_EVENT else "activity"


def _lives(config: SimConfig, good: int) -> list[tuple[Life, Iterator[Ev]]]:
    """Every borrower with its share of the good events (the first ones get the rest)."""
    rng = random.Random(f"creditstream-sim:{config.seed}:population")
    specs = platform_specs(config.platforms, config.platform_prefix)
    personas, weights = list(PERSONA_WEIGHTS), list(PERSONA_WEIGHTS.values())
    start = config.now_ms - config.period_ms
    lives: list[tuple[Life, Iterator[Ev]]] = []
    for index in range(config.borrowers):
        # The first six borrowers take one persona each, so small runs still show all.
        persona = personas[index] if index < len(personas) else rng.choices(personas, weights)[0]
        budget = good // config.borrowers + (index < good % config.borrowers)
        life = Life(index, persona, config.seed, specs, start, config.now_ms, budget)
        events = PERSONAS[persona](life)
        lives.append((life, islice(events, budget)))
    return lives


def generate(config: SimConfig, encode: Encode) -> Iterator[SimRecord]:
    """The simulation's records in time order (see the module docstring for the contract)."""
    n_bad = round(config.events * config.bad_share)
    maker = _BadMaker(config, encode)
    heap: list[tuple[int, int, Ev, Persona]] = []
    streams = _lives(config, config.events - n_bad)
    for index, (life, events) in enumerate(streams):
        first = next(events, None)
        if first is not None:
            heap.append((first.at_ms, index, first, life.persona))
    heapq.heapify(heap)
    for slot in range(config.events):
        # Bad slots are spread evenly: slot i is bad when the running quota steps up.
        if (slot + 1) * n_bad // max(config.events, 1) > slot * n_bad // max(config.events, 1):
            yield maker.make()
            continue
        at, index, ev, persona = heapq.heappop(heap)
        nxt = next(streams[index][1], None)
        if nxt is not None:
            heapq.heappush(heap, (nxt.at_ms, index, nxt, persona))
        record = SimRecord(
            ev.platform, ev.schema_name, ev.key, ev.datum, None, None,
            _kind_of(ev.schema_name), at, persona,
        )  # fmt: skip
        maker.remember(record)
        yield record


class _BadMaker:
    """Builds bad records from recent good ones, dealing every kind round-robin."""

    def __init__(self, config: SimConfig, encode: Encode) -> None:
        self.config, self.encode = config, encode
        self.rng = random.Random(f"creditstream-sim:{config.seed}:bad")
        self.recent: deque[SimRecord] = deque(maxlen=64)
        self.last: dict[str, SimRecord] = {}  # last good record per schema
        self.pending: list[BadKind] = []
        self.count = 0

    def remember(self, record: SimRecord) -> None:
        self.recent.append(record)
        self.last[record.schema_name] = record

    def _next_kind(self) -> BadKind:
        if not self.pending:
            self.pending = list(BadKind)
            self.rng.shuffle(self.pending)
        # A kind whose base schema has not been seen yet waits for a later slot;
        # NOT_AVRO needs no base at all and stands in meanwhile.
        for i, kind in enumerate(self.pending):
            need = _NEEDS.get(kind)
            if need is None or need in self.last:
                return self.pending.pop(i)
        return BadKind.NOT_AVRO

    def make(self) -> SimRecord:
        """The next bad record; only called after at least one good record."""
        kind, rng, latest = self._next_kind(), self.rng, self.recent[-1]
        if kind is BadKind.DUPLICATE_EVENT:
            orig = rng.choice(self.recent)
            raw = self.encode(orig.schema_name, orig.datum or {})
            return SimRecord(
                orig.platform, orig.schema_name, orig.key, orig.datum, kind, raw,
                orig.topic_kind, latest.at_ms, orig.persona,
            )  # fmt: skip
        need = _NEEDS.get(kind)
        base = self.last[need] if need is not None else latest
        self.count += 1
        datum = dict(base.datum or {})
        datum["event_id"] = f"bad-{self.config.seed}-{self.count}-{kind.value.lower()}"
        _break(kind, datum, base.schema_name, self.config, rng)
        raw = _mangle(kind, self.encode(base.schema_name, datum), rng)
        topic_kind: TopicKind = "loans" if kind is BadKind.WRONG_SCHEMA else base.topic_kind
        return SimRecord(
            base.platform, base.schema_name, base.key,
            None if kind is BadKind.NOT_AVRO else datum, kind, raw,
            topic_kind, latest.at_ms, base.persona,
        )  # fmt: skip


_NEEDS = {BadKind.WRONG_SCHEMA: ACTIVITY_EVENT, BadKind.INVALID_DAYS_PAST_DUE: LOAN_EVENT}


def _break(
    kind: BadKind, datum: dict[str, Any], schema: str, config: SimConfig, rng: random.Random
) -> None:
    """Break exactly the one rule ``kind`` names; every other field stays valid."""
    loan = schema == LOAN_EVENT
    if kind is BadKind.MISSING_FIELD:
        datum[rng.choice(("national_id", "lender", "loan_id") if loan else ("national_id",))] = ""
    elif kind is BadKind.INVALID_FIELD:
        if loan and rng.random() < 0.5:
            datum["term_months"] = 0
        else:
            datum["national_id"] = "--.--"  # only separators: nothing left once normalized
    elif kind is BadKind.NEGATIVE_AMOUNT:
        datum["amount"] = -abs(datum["amount"]) - Decimal("0.01")
    elif kind is BadKind.UNKNOWN_CURRENCY:
        datum["currency"] = rng.choice(("XXX", "EURO", "eur", "BTC"))
    elif kind is BadKind.FUTURE_TIMESTAMP:
        datum["occurred_at"] = ts(config.now_ms + rng.randint(30, 90) * DAY_MS)
    elif kind is BadKind.TOO_OLD:
        old = config.retention_ms + rng.randint(30, 400) * DAY_MS
        datum["occurred_at"] = ts(config.now_ms - old)
    elif kind is BadKind.INVALID_DAYS_PAST_DUE:
        datum["days_past_due"] = rng.choice((-1, -30, config.max_days_past_due + 1, 99_999))
    elif kind is BadKind.OVERSIZE:
        datum["lender" if loan else "category"] = "x" * (config.max_record_bytes + 64)


def _mangle(kind: BadKind, raw: bytes, rng: random.Random) -> bytes:
    """Damage the encoded bytes for the wire-level kinds; others pass through."""
    if kind is BadKind.NOT_AVRO:
        if rng.random() < 0.5:
            return b'{"event": "not avro", "note": "a platform sent JSON"}'
        noise = rng.randbytes(rng.randint(8, 200))
        return bytes([rng.choice(b"{[<AZaz19")]) + noise  # never an Avro magic byte
    if kind is BadKind.UNKNOWN_SCHEMA:
        if raw[:2] == b"\xc3\x01":  # single-object: replace the 8-byte fingerprint
            return raw[:2] + rng.randbytes(8) + raw[10:]
        if raw[:1] == b"\x00":  # Confluent framing: an id no registry hands out
            return b"\x00" + (0x7FFF0000 + rng.randrange(0xFFFF)).to_bytes(4, "big") + raw[5:]
        raise ValueError("unknown wire format: cannot fake an unknown schema")
    if kind is BadKind.TRUNCATED:
        return raw[: -rng.randint(1, 8)]
    if kind is BadKind.MALFORMED:
        return raw + rng.randbytes(rng.randint(1, 16))
    return raw

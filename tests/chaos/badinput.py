"""Bad input for the ingress torture test: deterministic, seeded, pure (no Kafka, no clock).

``plan(config)`` returns the records to send, in order: the seeded simulator's good
records and its duplicates (``streams.simulator.load``), and in every other bad slot one record
of a torture *family*, dealt round-robin (reshuffled each round) so that any run with at
least ``len(FAMILIES)`` non-duplicate bad slots has every family. Each family deals its
own variants round-robin too. Every :class:`Torture` says what the ingress must answer:
``reasons == ()`` means it must be accepted, else its reject reason must be one of
``reasons``: one reason, except where the bytes alone leave two truthful answers
(random garbage after a valid header) or the codec's answer is defensible but not the
most exact one (said at the variant). Variants the exchange answers wrongly today are
in ``KNOWN_GAPS`` and left out of plans.

Families (what a real platform, a broken client or an attacker can put on an ingest
topic), beyond the simulator's own bad kinds:

* ``random``: empty and null values, one random byte, random bytes of random length,
  text formats (JSON, CSV, XML);
* ``single-object``: the Avro magic ``C3 01`` followed by garbage, ``C3`` + another
  byte, a known event header followed by a random body;
* ``confluent``: the Confluent magic ``00`` alone, with a short header, with garbage, or
  with a schema id (0, 1, random, 0xFFFFFFFF) before a valid body (no Schema Registry is
  configured, so no id can be known);
* ``truncated``: a valid record cut inside the magic, inside the fingerprint, right after
  the header, at a field boundary, inside a string, inside a decimal, one byte short;
* ``malformed``: trailing bytes, invalid UTF-8, enum and union indexes out of range,
  negative lengths, timestamps and dates outside what a datetime can hold;
* ``fingerprint``: a random fingerprint, one bit flipped, the right one in the wrong
  byte order, the fingerprint of a shipped non-event schema;
* ``wrong-schema``: an ActivityEvent on a loans topic, a LoanEvent on an activity topic,
  the exchange's own ExchangeEvent sent back;
* ``invalid-value``: well-formed Avro breaking exactly one validation rule (every rule of
  ``streams.domain.validation``);
* ``oversize``: one byte over the limit, exactly at the limit (then a too-long field is
  the reason), random bytes over the limit, a record as large as a platform's default
  Kafka client can send, and a multi-MB compressible record (``huge``: it needs a
  producer with a raised ``message.max.bytes``; the broker checks the compressed size);
* ``sim``: the simulator's own bad record for that slot.

Bad records get event_ids of their own (``tort-<seed>-<n>``) so dedup cannot hide
their real reason. Avro bodies are written by this module's own small writer (checked
against the exchange's codec by ``tests/unit/test_badinput.py``) so that a field can be
replaced by raw bytes.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from streams import topics
from streams.clock import DAY_MS
from streams.domain.validation import DEFAULT_LIMITS
from streams.runtime.registry import codec_for
from streams.simulator.load import BadKind, SimConfig, SimRecord, generate, platform_names
from streams.wire.rejects import Reason
from streams.wire.schemas import ACTIVITY_EVENT, EXCHANGE_EVENT, LOAN_EVENT, load_schemas

SCHEMAS = load_schemas()
CODEC = codec_for(None)
SO_MAGIC = b"\xc3\x01"
#: Every fingerprint the exchange knows (current schemas; released ones are equal or absent).
KNOWN_FINGERPRINTS = frozenset(SCHEMAS.info(n).fingerprint for n in SCHEMAS.names())
#: What librdkafka refuses to queue by default (``message.max.bytes``).
CLIENT_MAX_MESSAGE_BYTES = 1_000_000

R = Reason

#: Variants the ingress answers wrongly today, left out of plans unless asked for.
#: fastavro (1.13) indexes enum symbols and union branches with the wire's index as
#: given, so a negative index wraps around to a symbol or branch counted from the end
#: (apache/avro fixed the same in its Python decoder, PR 3876): such records decode
#: and are ACCEPTED with values the platform never sent. The fix belongs in
#: ``streams/wire/codec/base.py`` (decode_body, or fastavro).
KNOWN_GAPS = frozenset(
    {
        "malformed/negative-enum-index",
        "malformed/negative-union-index",
    }
)


@dataclass(frozen=True, slots=True)
class Torture:
    """One record to send and what the ingress must answer."""

    topic: str
    key: bytes | None
    value: bytes | None
    reasons: tuple[Reason, ...]  # () = must be accepted
    kind: str  # "family/variant", for reports
    platform: str
    schema_name: str | None = None  # good records: the schema of ``datum``
    datum: dict[str, Any] | None = None  # good records: the event sent
    huge: bool = False  # needs a producer allowing multi-MB records (and compression)

    @property
    def good(self) -> bool:
        return not self.reasons

    @property
    def event_id(self) -> str | None:
        return None if self.datum is None else str(self.datum["event_id"])


@dataclass(frozen=True, slots=True)
class TortureConfig:
    """What to generate; ``now_ms`` is explicit so runs are reproducible."""

    now_ms: int
    events: int = 3000
    bad_share: float = 0.01
    seed: int = 1
    platforms: int = 4
    borrowers: int = 300
    platform_prefix: str = ""
    max_record_bytes: int = DEFAULT_LIMITS.max_record_bytes
    retention_ms: int = DEFAULT_LIMITS.retention_ms
    #: How many multi-MB records at most (they are slow to move around).
    huge_records: int = 2
    huge_bytes: int = 3 * 1024 * 1024
    #: How many records as large as a default-configured client can send, at most.
    near_limit_records: int = 2
    #: Also deal the variants the exchange gets wrong today (see ``KNOWN_GAPS``).
    include_known_gaps: bool = False

    def sim(self) -> SimConfig:
        return SimConfig(
            now_ms=self.now_ms,
            platforms=self.platforms,
            borrowers=self.borrowers,
            events=self.events,
            bad_share=self.bad_share,
            seed=self.seed,
            platform_prefix=self.platform_prefix,
            max_record_bytes=self.max_record_bytes,
            retention_ms=self.retention_ms,
        )

    def platform_names(self) -> list[str]:
        return platform_names(self.sim())


# -- a small Avro binary writer (so that single fields can be replaced by raw bytes) ----


def varint(u: int) -> bytes:
    """Unsigned LEB128 of any size (Avro's varint, unbounded on purpose)."""
    out = bytearray()
    while True:
        b, u = u & 0x7F, u >> 7
        if not u:
            out.append(b)
            return bytes(out)
        out.append(b | 0x80)


def long_(n: int) -> bytes:
    """Zigzag varint of any Python int (beyond 64 bits too: invalid Avro on purpose)."""
    return varint(n << 1 if n >= 0 else ((-n) << 1) - 1)


def bytes_(data: bytes) -> bytes:
    return long_(len(data)) + data


def decimal_(value: Decimal, scale: int) -> bytes:
    unscaled = int(value.scaleb(scale))
    size = (
        (unscaled.bit_length() + 8) // 8 if unscaled >= 0 else ((~unscaled).bit_length() + 8) // 8
    )
    return bytes_(unscaled.to_bytes(size, "big", signed=True))


def _epoch_ms(value: datetime | int) -> int:
    if isinstance(value, int):
        return value
    return (value - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)


def _write(schema: Any, value: Any) -> bytes:
    if isinstance(schema, list):  # union: pick the branch by the value's type
        for i, branch in enumerate(schema):
            if (value is None) == (branch == "null"):
                return long_(i) + (b"" if value is None else _write(branch, value))
        raise ValueError("no union branch fits")
    kind = schema if isinstance(schema, str) else schema["type"]
    logical = schema.get("logicalType") if isinstance(schema, dict) else None
    if kind == "string":
        return bytes_(value if isinstance(value, bytes) else str(value).encode())
    if kind in ("int", "long"):
        if logical == "timestamp-millis":
            return long_(_epoch_ms(value))
        if logical == "date" and isinstance(value, date):
            return long_((value - date(1970, 1, 1)).days)
        return long_(int(value))
    if kind == "bytes":
        if logical == "decimal":
            return decimal_(Decimal(value), int(schema.get("scale", 0)))
        return bytes_(value)
    if kind == "enum":
        return long_(schema["symbols"].index(str(value)))
    if kind == "record":
        return b"".join(_write(f["type"], value[f["name"]]) for f in schema["fields"])
    raise ValueError(f"unsupported Avro type {kind!r}")


def fields_of(schema_name: str) -> list[str]:
    return [f["name"] for f in SCHEMAS.info(schema_name).resolved["fields"]]


def body_parts(
    schema_name: str, datum: Mapping[str, Any], raw: Mapping[str, bytes] | None = None
) -> list[tuple[str, bytes]]:
    """``(field, bytes)`` of a record body in field order; ``raw`` replaces fields' bytes."""
    raw = raw or {}
    return [
        (f["name"], raw[f["name"]] if f["name"] in raw else _write(f["type"], datum[f["name"]]))
        for f in SCHEMAS.info(schema_name).resolved["fields"]
    ]


def header(schema_name: str) -> bytes:
    return SO_MAGIC + SCHEMAS.info(schema_name).fingerprint


def encode(
    schema_name: str, datum: Mapping[str, Any], raw: Mapping[str, bytes] | None = None
) -> bytes:
    """Single-object encoding of ``datum``, some fields given as raw bytes."""
    return header(schema_name) + b"".join(b for _, b in body_parts(schema_name, datum, raw))


def wire_reason(data: bytes) -> Reason | None:
    """The reason the wire header alone decides (None: a known header, body decides).

    From the contract: no registry is configured, so every Confluent-framed record has
    an unknown schema; a single-object header shorter than 10 bytes is truncated.
    """
    if not data:
        return R.NOT_AVRO
    if data[:1] == b"\x00":
        return R.UNKNOWN_SCHEMA
    if data[:2] != SO_MAGIC:
        return R.NOT_AVRO
    if len(data) < 10:
        return R.TRUNCATED
    return None if data[2:10] in KNOWN_FINGERPRINTS else R.UNKNOWN_SCHEMA


# -- the families ------------------------------------------------------------------------


@dataclass
class _Ctx:
    config: TortureConfig
    rng: random.Random
    last: dict[str, SimRecord] = field(default_factory=dict)  # latest good per schema
    recent: deque[SimRecord] = field(default_factory=lambda: deque(maxlen=64))
    count: int = 0
    huge_left: int = 0
    near_left: int = 0

    def base(self, schema_name: str | None = None) -> SimRecord:
        return self.last[schema_name] if schema_name else self.rng.choice(self.recent)

    def fresh(self, rec: SimRecord, **over: Any) -> dict[str, Any]:
        """A copy of ``rec``'s datum with a new event_id (and ``over`` applied)."""
        self.count += 1
        datum = dict(rec.datum or {})
        datum["event_id"] = f"tort-{self.config.seed}-{self.count}"
        datum.update(over)
        return datum


#: (value, topic kind, reasons, variant label); the base record gives platform and key.
Made = tuple[bytes | None, str, tuple[Reason, ...], str]
Variant = Callable[[_Ctx, SimRecord], Made]


def _kind(rec: SimRecord) -> str:
    return rec.topic_kind


def _random_variants() -> list[Variant]:
    def empty(c: _Ctx, b: SimRecord) -> Made:
        return b"", _kind(b), (R.NOT_AVRO,), "empty"

    def null(c: _Ctx, b: SimRecord) -> Made:
        return None, _kind(b), (R.NOT_AVRO,), "null"

    def one_byte(c: _Ctx, b: SimRecord) -> Made:
        data = bytes([c.rng.randrange(256)])
        return data, _kind(b), (wire_reason(data) or R.NOT_AVRO,), "one-byte"

    def noise(c: _Ctx, b: SimRecord) -> Made:
        while True:  # a random known fingerprint has odds of 2**-64; draw again then
            data = c.rng.randbytes(c.rng.randint(2, 4096))
            reason = wire_reason(data)
            if reason is not None:
                return data, _kind(b), (reason,), "noise"

    def text(c: _Ctx, b: SimRecord) -> Made:
        data = c.rng.choice(
            (
                b'{"event_id": "x", "national_id": "AB123456", "amount": "10.00"}',
                b"event_id;national_id;amount\nx;AB123456;10.00\n",
                b"<?xml version='1.0'?><loan id='x'/>",
                "ÄÖ åäö € 日本".encode(),
                b"\n",
            )
        )
        return data, _kind(b), (R.NOT_AVRO,), "text"

    return [empty, null, one_byte, noise, text]


def _single_object_variants() -> list[Variant]:
    def short(c: _Ctx, b: SimRecord) -> Made:
        return SO_MAGIC + c.rng.randbytes(c.rng.randint(0, 7)), _kind(b), (R.TRUNCATED,), "short"

    def unknown(c: _Ctx, b: SimRecord) -> Made:
        while True:
            data = SO_MAGIC + c.rng.randbytes(c.rng.randint(8, 300))
            if data[2:10] not in KNOWN_FINGERPRINTS:
                return data, _kind(b), (R.UNKNOWN_SCHEMA,), "unknown-fingerprint-garbage"

    def other_second_byte(c: _Ctx, b: SimRecord) -> Made:
        second = c.rng.choice([x for x in range(256) if x != 1])
        data = b"\xc3" + bytes([second]) + c.rng.randbytes(c.rng.randint(0, 64))
        return data, _kind(b), (R.NOT_AVRO,), "c3-not-01"

    def known_header_garbage(c: _Ctx, b: SimRecord) -> Made:
        # Where random bytes stop parsing decides between the two; both are truthful.
        data = header(b.schema_name) + c.rng.randbytes(c.rng.randint(1, 300))
        return data, _kind(b), (R.TRUNCATED, R.MALFORMED), "known-header-garbage"

    return [short, unknown, other_second_byte, known_header_garbage]


def _confluent_variants() -> list[Variant]:
    def magic_only(c: _Ctx, b: SimRecord) -> Made:
        data = b"\x00" + c.rng.randbytes(c.rng.randint(0, 3))
        return data, _kind(b), (R.UNKNOWN_SCHEMA,), "short-header"

    def with_id(c: _Ctx, b: SimRecord) -> Made:
        schema_id = c.rng.choice((0, 1, c.rng.randrange(2**32), 2**32 - 1))
        body = encode(b.schema_name, c.fresh(b))[10:]
        data = b"\x00" + schema_id.to_bytes(4, "big") + body
        return data, _kind(b), (R.UNKNOWN_SCHEMA,), "schema-id"

    def garbage(c: _Ctx, b: SimRecord) -> Made:
        data = b"\x00" + c.rng.randbytes(c.rng.randint(4, 300))
        return data, _kind(b), (R.UNKNOWN_SCHEMA,), "garbage"

    return [magic_only, with_id, garbage]


def _cut(c: _Ctx, b: SimRecord, where: str) -> Made:
    parts = body_parts(b.schema_name, c.fresh(b))
    data = header(b.schema_name) + b"".join(p for _, p in parts)
    starts, pos = {}, 10
    for name, p in parts:
        starts[name] = (pos, len(p))
        pos += len(p)
    if where == "in-magic":
        return data[:1], _kind(b), (R.NOT_AVRO,), "cut/in-magic"  # C3 alone: no header at all
    if where == "in-fingerprint":
        cut = c.rng.randint(2, 9)
    elif where == "after-header":
        cut = 10
    elif where == "field-boundary":  # after a whole field, before the last one
        names = fields_of(b.schema_name)[:-1]
        start, size = starts[c.rng.choice(names)]
        cut = start + size
    elif where == "in-string":
        start, size = starts["national_id"]
        cut = start + max(2, size - 1)  # length prefix read, part of the characters
    elif where == "in-decimal":
        start, size = starts["amount"]
        cut = start + size - 1
    elif where == "one-short":
        cut = len(data) - 1
    else:  # anywhere in the body
        cut = c.rng.randint(11, len(data) - 1)
    return data[:cut], _kind(b), (R.TRUNCATED,), f"cut/{where}"


def _truncated_variants() -> list[Variant]:
    wheres = (
        "in-magic", "in-fingerprint", "after-header", "field-boundary",
        "in-string", "in-decimal", "one-short", "in-body",
    )  # fmt: skip
    return [lambda c, b, w=w: _cut(c, b, w) for w in wheres]  # type: ignore[misc]


def _malformed_variants() -> list[Variant]:
    def trailing(c: _Ctx, b: SimRecord) -> Made:
        data = encode(b.schema_name, c.fresh(b)) + c.rng.randbytes(c.rng.randint(1, 16))
        return data, _kind(b), (R.MALFORMED,), "trailing-bytes"

    def bad_utf8(c: _Ctx, b: SimRecord) -> Made:
        raw = {
            "national_id": bytes_(b"AB\xff\xfe" + c.rng.choice((b"\x80", b"\xc3", b"\xed\xa0\x80")))
        }
        return encode(b.schema_name, c.fresh(b), raw), _kind(b), (R.MALFORMED,), "invalid-utf8"

    def enum_index(c: _Ctx, b: SimRecord) -> Made:
        name = "product" if b.schema_name == LOAN_EVENT else "kind"
        raw = {name: long_(c.rng.choice((17, 99, 2**40)))}
        return encode(b.schema_name, c.fresh(b), raw), _kind(b), (R.MALFORMED,), "enum-index"

    def negative_enum_index(c: _Ctx, b: SimRecord) -> Made:
        name = "product" if b.schema_name == LOAN_EVENT else "kind"
        raw = {name: long_(c.rng.choice((-1, -2)))}
        data = encode(b.schema_name, c.fresh(b), raw)
        return data, _kind(b), (R.MALFORMED,), "negative-enum-index"

    def negative_length(c: _Ctx, b: SimRecord) -> Made:
        # fastavro fails on a negative length only once it runs out of bytes: the codec
        # answers TRUNCATED (it ran out), MALFORMED would be exact.
        raw = {"user_key": long_(-c.rng.randint(1, 40)) + b"u-1"}
        data = encode(b.schema_name, c.fresh(b), raw)
        return data, _kind(b), (R.MALFORMED, R.TRUNCATED), "negative-length"

    def union_index(c: _Ctx, b: SimRecord) -> Made:
        loan = c.base(LOAN_EVENT)
        raw = {"term_months": long_(c.rng.choice((2, 7, 1000)))}
        return encode(LOAN_EVENT, c.fresh(loan), raw), "loans", (R.MALFORMED,), "union-index"

    def negative_union_index(c: _Ctx, b: SimRecord) -> Made:
        loan = c.base(LOAN_EVENT)  # -2 is "null" counted from the end: a wrapped branch
        raw = {"term_months": long_(-2)}
        data = encode(LOAN_EVENT, c.fresh(loan), raw)
        return data, "loans", (R.MALFORMED,), "negative-union-index"

    def negative_length_last(c: _Ctx, b: SimRecord) -> Made:
        act = c.base(ACTIVITY_EVENT)  # category is the last field: nothing left to read
        raw = {"category": long_(-c.rng.randint(1, 40))}
        data = encode(ACTIVITY_EVENT, c.fresh(act), raw)
        return data, "activity", (R.MALFORMED, R.TRUNCATED), "negative-length-last-field"

    def bad_utf8_last(c: _Ctx, b: SimRecord) -> Made:
        act = c.base(ACTIVITY_EVENT)  # the codec calls a failure at the very end TRUNCATED
        raw = {"category": bytes_(b"food\xff")}
        data = encode(ACTIVITY_EVENT, c.fresh(act), raw)
        return data, "activity", (R.MALFORMED, R.TRUNCATED), "invalid-utf8-last-field"

    def timestamp_range(c: _Ctx, b: SimRecord) -> Made:
        ms = c.rng.choice((2**62, -(2**62), 253_402_300_800_000, -62_135_596_800_001))
        raw = {"occurred_at": long_(ms)}
        data = encode(b.schema_name, c.fresh(b), raw)
        return data, _kind(b), (R.MALFORMED,), "timestamp-out-of-datetime"

    def date_range(c: _Ctx, b: SimRecord) -> Made:
        loan = c.base(LOAN_EVENT)
        raw = {"due_date": long_(1) + long_(c.rng.choice((2**31 - 1, -(2**31), 3_000_000)))}
        return encode(LOAN_EVENT, c.fresh(loan), raw), "loans", (R.MALFORMED,), "date-out-of-range"

    return [
        trailing, bad_utf8, bad_utf8_last, enum_index, negative_enum_index, negative_length,
        negative_length_last, union_index, negative_union_index, timestamp_range, date_range,
    ]  # fmt: skip


def _fingerprint_variants() -> list[Variant]:
    def replace(c: _Ctx, b: SimRecord, fp: bytes, label: str, reason: Reason) -> Made:
        body = encode(b.schema_name, c.fresh(b))[10:]
        return SO_MAGIC + fp + body, _kind(b), (reason,), label

    def random_fp(c: _Ctx, b: SimRecord) -> Made:
        fp = c.rng.randbytes(8)
        while fp in KNOWN_FINGERPRINTS:
            fp = c.rng.randbytes(8)
        return replace(c, b, fp, "random", R.UNKNOWN_SCHEMA)

    def bit_flip(c: _Ctx, b: SimRecord) -> Made:
        fp = int.from_bytes(SCHEMAS.info(b.schema_name).fingerprint, "little")
        flipped = (fp ^ (1 << c.rng.randrange(64))).to_bytes(8, "little")
        return replace(c, b, flipped, "one-bit-flipped", R.UNKNOWN_SCHEMA)

    def byte_order(c: _Ctx, b: SimRecord) -> Made:
        fp = SCHEMAS.info(b.schema_name).fingerprint[::-1]  # big-endian: a classic slip
        return replace(c, b, fp, "big-endian", R.UNKNOWN_SCHEMA)

    def other_schema(c: _Ctx, b: SimRecord) -> Made:
        events = {LOAN_EVENT, ACTIVITY_EVENT}
        name = c.rng.choice(sorted(n for n in SCHEMAS.names() if n not in events))
        return replace(c, b, SCHEMAS.info(name).fingerprint, "non-event-schema", R.WRONG_SCHEMA)

    return [random_fp, bit_flip, byte_order, other_schema]


def _wrong_schema_variants() -> list[Variant]:
    def activity_on_loans(c: _Ctx, b: SimRecord) -> Made:
        act = c.base(ACTIVITY_EVENT)
        return encode(ACTIVITY_EVENT, c.fresh(act)), "loans", (R.WRONG_SCHEMA,), "activity-on-loans"

    def loan_on_activity(c: _Ctx, b: SimRecord) -> Made:
        loan = c.base(LOAN_EVENT)
        return encode(LOAN_EVENT, c.fresh(loan)), "activity", (R.WRONG_SCHEMA,), "loan-on-activity"

    def exchange_event(c: _Ctx, b: SimRecord) -> Made:
        now = c.config.now_ms
        datum = {
            "event_id": c.fresh(b)["event_id"],
            "platform": b.platform,
            "borrower_id": "0" * 64,
            "key_version": 1,
            "occurred_at": now - DAY_MS,
            "ingested_at": now,
            "loan": None,
            "activity": None,
        }
        data = CODEC.encode(EXCHANGE_EVENT, datum)
        return data, _kind(b), (R.WRONG_SCHEMA,), "exchange-event"

    return [activity_on_loans, loan_on_activity, exchange_event]


def _invalid_value_variants() -> list[Variant]:
    long_text = "x" * (DEFAULT_LIMITS.max_text_length + 1)
    common: list[tuple[str, Any, Reason]] = [
        ("event_id", "", R.MISSING_FIELD),
        ("event_id", "   ", R.MISSING_FIELD),
        ("event_id", long_text, R.INVALID_FIELD),
        ("user_key", "", R.MISSING_FIELD),
        ("user_key", long_text, R.INVALID_FIELD),
        ("national_id", "", R.MISSING_FIELD),
        ("national_id", " \t ", R.MISSING_FIELD),
        ("national_id", "--.--", R.INVALID_FIELD),
        ("national_id", "AB1", R.INVALID_FIELD),
        ("national_id", "A" * 33, R.INVALID_FIELD),
        ("national_id", "١٢٣٤٥٦٧٨", R.INVALID_FIELD),  # Arabic-Indic digits stay non-ASCII
        ("national_id", "AB12€456", R.INVALID_FIELD),
        ("amount", Decimal("-0.01"), R.NEGATIVE_AMOUNT),
        ("amount", Decimal("-99999.99"), R.NEGATIVE_AMOUNT),
        ("amount", Decimal("1" * 40 + ".00"), R.INVALID_FIELD),  # beyond decimal(18, 2)
        ("amount", Decimal("10000000000000000.00"), R.INVALID_FIELD),  # 10**16: 19 digits
        ("currency", "", R.UNKNOWN_CURRENCY),
        ("currency", "eur", R.UNKNOWN_CURRENCY),
        ("currency", "XXX", R.UNKNOWN_CURRENCY),
        ("currency", "EURO", R.UNKNOWN_CURRENCY),
        ("currency", "€", R.UNKNOWN_CURRENCY),
        ("occurred_at", "future", R.FUTURE_TIMESTAMP),
        ("occurred_at", "old", R.TOO_OLD),
    ]
    loan_only: list[tuple[str, Any, Reason]] = [
        ("loan_id", "", R.MISSING_FIELD),
        ("loan_id", long_text, R.INVALID_FIELD),
        ("lender", "", R.MISSING_FIELD),
        ("lender", long_text, R.INVALID_FIELD),
        ("principal_outstanding", Decimal("-1.00"), R.NEGATIVE_AMOUNT),
        ("principal_outstanding", Decimal("9" * 30 + ".99"), R.INVALID_FIELD),
        ("days_past_due", -1, R.INVALID_DAYS_PAST_DUE),
        ("days_past_due", DEFAULT_LIMITS.max_days_past_due + 1, R.INVALID_DAYS_PAST_DUE),
        ("days_past_due", 2**31 - 1, R.INVALID_DAYS_PAST_DUE),
        ("days_past_due", 2**40, R.INVALID_DAYS_PAST_DUE),  # not even an Avro int
        ("term_months", 0, R.INVALID_FIELD),
        ("term_months", -12, R.INVALID_FIELD),
        ("term_months", DEFAULT_LIMITS.max_term_months + 1, R.INVALID_FIELD),
        ("corrects_event_id", "on-non-correction", R.INVALID_FIELD),
        ("type", "CORRECTION", R.MISSING_FIELD),  # a correction naming nothing
        ("type", "CORRECTION+empty", R.MISSING_FIELD),
        ("type", "CORRECTION+self", R.INVALID_FIELD),
        ("type", "CORRECTION+long", R.INVALID_FIELD),
    ]
    activity_only: list[tuple[str, Any, Reason]] = [
        ("category", long_text, R.INVALID_FIELD),
    ]

    def make(schema: str, name: str, value: Any, reason: Reason) -> Variant:
        def variant(c: _Ctx, b: SimRecord) -> Made:
            base = c.base(schema)
            datum = c.fresh(base)
            if value == "future":
                datum[name] = c.config.now_ms + c.rng.randint(30, 90) * DAY_MS
            elif value == "old":
                old = c.config.retention_ms + c.rng.randint(30, 400) * DAY_MS
                datum[name] = c.config.now_ms - old
            elif name == "type":
                datum["type"] = "CORRECTION"
                datum["corrects_event_id"] = {
                    "CORRECTION": None,
                    "CORRECTION+empty": "",
                    "CORRECTION+self": datum["event_id"],
                    "CORRECTION+long": long_text,
                }[value]
            elif value == "on-non-correction":
                datum["type"] = "REPAYMENT"
                datum["corrects_event_id"] = "tort-other"
            else:
                datum[name] = value
            label = f"{name}={value!s}"[:40]
            return encode(schema, datum), base.topic_kind, (reason,), label

        return variant

    variants = [make(LOAN_EVENT, *v) for v in common + loan_only]
    variants += [make(ACTIVITY_EVENT, *v) for v in common + activity_only]
    return variants


def _padded(c: _Ctx, b: SimRecord, size: int) -> bytes:
    """``b``'s event, a text field padded so that the record is exactly ``size`` bytes."""
    name = "lender" if b.schema_name == LOAN_EVENT else "category"
    datum = c.fresh(b)
    datum[name] = ""
    pad = size - len(encode(b.schema_name, datum))
    while True:  # the length prefix grows with the text: settle on the exact size
        datum[name] = "x" * pad
        got = len(encode(b.schema_name, datum))
        if got == size:
            return encode(b.schema_name, datum)
        pad += size - got


def _oversize_variants() -> list[Variant]:
    def over_by_one(c: _Ctx, b: SimRecord) -> Made:
        data = _padded(c, b, c.config.max_record_bytes + 1)
        return data, _kind(b), (R.OVERSIZE,), "limit+1"

    def at_limit(c: _Ctx, b: SimRecord) -> Made:
        data = _padded(c, b, c.config.max_record_bytes)
        return data, _kind(b), (R.INVALID_FIELD,), "limit-exactly"  # size fine, text too long

    def random_big(c: _Ctx, b: SimRecord) -> Made:
        data = c.rng.randbytes(c.rng.randint(c.config.max_record_bytes + 1, 64 * 1024))
        return data, _kind(b), (R.OVERSIZE,), "random-over-limit"

    def near_client_limit(c: _Ctx, b: SimRecord) -> Made:
        if c.near_left <= 0:
            return over_by_one(c, b)
        c.near_left -= 1
        # Incompressible, and as large as a default librdkafka producer queues with a
        # short key: what any platform can put on its topic without special settings.
        data = header(b.schema_name) + c.rng.randbytes(CLIENT_MAX_MESSAGE_BYTES - 200)
        return data, _kind(b), (R.OVERSIZE,), "default-client-max"

    def multi_mb(c: _Ctx, b: SimRecord) -> Made:
        if c.huge_left <= 0:
            return over_by_one(c, b)
        c.huge_left -= 1
        return _padded(c, b, c.config.huge_bytes), _kind(b), (R.OVERSIZE,), "multi-MB"

    return [over_by_one, at_limit, random_big, near_client_limit, multi_mb]


def _sim_variant(c: _Ctx, b: SimRecord) -> Made:
    raise AssertionError("the sim family is handled by plan()")  # pragma: no cover


FAMILIES: dict[str, list[Variant]] = {
    "random": _random_variants(),
    "single-object": _single_object_variants(),
    "confluent": _confluent_variants(),
    "truncated": _truncated_variants(),
    "malformed": _malformed_variants(),
    "fingerprint": _fingerprint_variants(),
    "wrong-schema": _wrong_schema_variants(),
    "invalid-value": _invalid_value_variants(),
    "oversize": _oversize_variants(),
    "sim": [_sim_variant],
}


class _Dealer:
    """Round-robin over items, reshuffled each round (so small runs still vary); the
    ``first`` items open the first round, in that order."""

    def __init__(self, items: list[Any], rng: random.Random, first: tuple[Any, ...] = ()) -> None:
        self.items, self.rng = items, rng
        rest = [i for i in items if i not in first]
        rng.shuffle(rest)
        self.pending = rest + list(reversed(first))

    def next(self) -> Any:
        if not self.pending:
            self.pending = list(self.items)
            self.rng.shuffle(self.pending)
        return self.pending.pop()


#: Variants every run deals first in their family, so a 1% run has them too.
FIRST: dict[str, tuple[str, ...]] = {"oversize": ("multi_mb", "near_client_limit")}


def plan(config: TortureConfig) -> list[Torture]:
    """Every record to send, in order (see the module docstring)."""
    return list(_plan(config))


def _plan(config: TortureConfig) -> Iterator[Torture]:
    rng = random.Random(f"torture:{config.seed}")
    ctx = _Ctx(config, rng, huge_left=config.huge_records, near_left=config.near_limit_records)
    families = _Dealer(sorted(FAMILIES), rng)
    variants = {
        name: _Dealer(
            list(range(len(v))),
            rng,
            tuple(i for f in FIRST.get(name, ()) for i, fn in enumerate(v) if fn.__name__ == f),
        )
        for name, v in FAMILIES.items()
    }
    for rec in generate(config.sim(), CODEC.encode):
        if rec.bad is None:
            ctx.recent.append(rec)
            ctx.last[rec.schema_name] = rec
            yield Torture(
                rec.topic, rec.key.encode(), CODEC.encode(rec.schema_name, rec.datum or {}), (),
                "good", rec.platform, rec.schema_name, rec.datum,
            )  # fmt: skip
            continue
        family = "sim" if rec.bad is BadKind.DUPLICATE_EVENT else families.next()
        if family != "sim" and not {LOAN_EVENT, ACTIVITY_EVENT} <= set(ctx.last):
            family = "sim"  # every family needs a base of both schemas; seen soon enough
        if family == "sim":
            yield Torture(
                rec.topic, rec.key.encode(), rec.raw, (rec.bad.reason,),
                f"sim/{rec.bad.value}", rec.platform, huge=False,
            )  # fmt: skip
            continue
        base = ctx.base()
        while True:
            made = _torture(family, base, FAMILIES[family][variants[family].next()](ctx, base))
            if config.include_known_gaps or made.kind not in KNOWN_GAPS:
                break
        yield made


def _torture(family: str, base: SimRecord, made: Made) -> Torture:
    value, kind, reasons, label = made
    topic = topics.ingest_loans(base.platform) if kind == "loans" else (
        topics.ingest_activity(base.platform)
    )  # fmt: skip
    return Torture(
        topic, base.key.encode(), value, reasons, f"{family}/{label}", base.platform,
        huge=label == "multi-MB",
    )  # fmt: skip


def examples(config: TortureConfig, family: str, index: int, count: int) -> list[Torture]:
    """``count`` records of one variant (``FAMILIES[family][index]``), known gaps
    included, built on ``config``'s good records: for testing the generator itself."""
    rng = random.Random(f"torture-examples:{config.seed}:{family}:{index}")
    ctx = _Ctx(config, rng, huge_left=config.huge_records, near_left=config.near_limit_records)
    for rec in generate(config.sim(), CODEC.encode):
        if rec.bad is None:
            ctx.recent.append(rec)
            ctx.last[rec.schema_name] = rec
    variant = FAMILIES[family][index]
    out = []
    for _ in range(count):
        base = ctx.base()
        out.append(_torture(family, base, variant(ctx, base)))
    return out

"""Decode exchange.events records straight into what the profile fold needs (pure).

The generic path (codec decode -> fastavro datum with datetimes and Decimals ->
``ExchangeEvent``/``LoanFacts`` dataclasses -> apply's strings) cost ~13 us per event.
Records written with the current ``io.creditstream.ExchangeEvent`` schema (recognised by
their header: single-object fingerprint, or the Confluent id this codec encodes with)
are read here with fastavro against the same schema stripped of logical types (times
stay epoch-ms ints, dates day numbers, decimals their unscaled bytes) and turned into
the arguments of ``streams.profile.apply_activity`` / ``apply_loan`` (~5 us). Any other
header (an older writer schema, another registry id) takes the generic path, which
resolves schemas; both give the same :class:`Op`, which a start-up self-check and the
unit tests compare.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from io import BytesIO
from typing import Any, NamedTuple

from fastavro import parse_schema, schemaless_reader

from streams.codec import SINGLE_OBJECT_MAGIC, SniffingCodec
from streams.models import (
    ActivityFacts,
    ActivityKind,
    ExchangeEvent,
    LoanEventType,
    LoanFacts,
    Product,
)
from streams.profile_state import T_CODE
from streams.profiles.avro import strip_logical
from streams.schemas import EXCHANGE_EVENT
from streams.validation import from_avro, to_avro

EXPECTED = frozenset({EXCHANGE_EVENT})
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


class Op(NamedTuple):
    """One decoded event: where it came from, and the fold call it stands for.

    ``loan`` selects ``apply_loan(state, *args)`` over ``apply_activity(state, *args)``.
    """

    partition: int
    borrower_id: str
    ingested_ms: int
    loan: bool
    args: tuple[Any, ...]


def op_of(partition: int, ev: ExchangeEvent) -> Op:
    """The :class:`Op` of a decoded ``ExchangeEvent`` (the generic path)."""
    t, act, facts = ev.occurred_at_ms, ev.activity, ev.loan
    if act is not None:
        args: tuple[Any, ...] = (ev.platform, ev.event_id, t, str(act.kind))
        return Op(
            partition,
            ev.borrower_id,
            ev.ingested_at_ms,
            False,
            (*args, act.currency, str(act.amount)),
        )
    if facts is None:
        raise ValueError("event carries neither loan nor activity facts")
    due = facts.due_date.toordinal() - _EPOCH_ORDINAL if facts.due_date is not None else -1
    parts = (facts.loan_id, facts.lender, facts.currency, str(facts.principal_outstanding))
    args = (ev.platform, ev.event_id, t, T_CODE[facts.type], parts, facts.days_past_due, due)
    return Op(partition, ev.borrower_id, ev.ingested_at_ms, True, (*args, facts.corrects_event_id))


_DEC_CACHE: dict[bytes, str] = {}


def decimal_str(unscaled: bytes) -> str:
    """``str`` of the ``decimal(18, 2)`` with these unscaled bytes (as ``Decimal`` prints
    it: always two decimals, never an exponent at this scale)."""
    got = _DEC_CACHE.get(unscaled)
    if got is None:
        n = int.from_bytes(unscaled, "big", signed=True)
        q, r = divmod(abs(n), 100)
        got = f"{'-' if n < 0 else ''}{q}.{r:02d}"
        if len(_DEC_CACHE) > 100_000:  # a safety valve: amounts repeat a lot
            _DEC_CACHE.clear()
        _DEC_CACHE[unscaled] = got
    return got


class EventDecoder:
    """``decode(partition, value) -> Op``; raises DecodeError/ValueError/KeyError/...
    on records that are not valid ExchangeEvents (the caller counts and skips them)."""

    def __init__(self, codec: SniffingCodec) -> None:
        self.codec = codec
        info = codec.single.schemas.info(EXCHANGE_EVENT)
        self._raw = parse_schema(strip_logical(info.resolved))
        self._fast: dict[bytes, int] = {}  # header -> its length
        sample = _sample()
        for encoded in (
            codec.single.encode(EXCHANGE_EVENT, to_avro(sample)),
            codec.encode(EXCHANGE_EVENT, to_avro(sample)),
        ):
            n = 10 if encoded.startswith(SINGLE_OBJECT_MAGIC) else 5
            self._fast[encoded[:n]] = n
        # The fast path is kept only if it reads samples exactly as the generic one does.
        for ev in (sample, _sample_activity()):
            encoded = codec.encode(EXCHANGE_EVENT, to_avro(ev))
            if self.decode(0, encoded) != op_of(0, from_avro(codec.decode(encoded)[1])):
                self._fast.clear()

    def decode(self, partition: int, value: bytes) -> Op:
        n = self._fast.get(value[:10]) or self._fast.get(value[:5])
        if n is not None:
            return self._decode_fast(value, n, partition)
        return op_of(partition, from_avro(self.codec.decode(value, EXPECTED)[1]))

    def _decode_fast(self, value: bytes, header: int, partition: int) -> Op:
        bio = BytesIO(value)
        bio.seek(header)
        d: Any = schemaless_reader(bio, self._raw, None)
        if bio.tell() != len(value):
            raise ValueError(f"{len(value) - bio.tell()} trailing bytes after the event")
        plat, eid, t = d["platform"], d["event_id"], d["occurred_at"]
        loan = d["loan"]
        if loan is not None:
            due = loan["due_date"]
            parts = (
                loan["loan_id"],
                loan["lender"],
                loan["currency"],
                decimal_str(loan["principal_outstanding"]),
            )
            args = (
                plat,
                eid,
                t,
                T_CODE[loan["type"]],
                parts,
                loan["days_past_due"],
                -1 if due is None else due,
                loan["corrects_event_id"],
            )
            return Op(partition, d["borrower_id"], d["ingested_at"], True, args)
        act = d["activity"]
        if act is None:
            raise ValueError("event carries neither loan nor activity facts")
        acts = (plat, eid, t, act["kind"], act["currency"], decimal_str(act["amount"]))
        return Op(partition, d["borrower_id"], d["ingested_at"], False, acts)


def _sample() -> ExchangeEvent:
    facts = LoanFacts(
        "L1",
        "Lender \u00e9",
        Product.BNPL,
        LoanEventType.CORRECTION,
        Decimal("1.00"),
        "EUR",
        Decimal("-1234567.89"),
        12,
        date(2024, 2, 29),
        6,
        "e0",
    )
    return ExchangeEvent("e1", "p1", "b" * 64, 1, 1_700_000_000_123, 1_700_000_000_456, facts)


def _sample_activity() -> ExchangeEvent:
    act = ActivityFacts(ActivityKind.TRAVEL_BOOKING, Decimal("0.05"), "JPY", "x")
    return ExchangeEvent("e2", "p2", "c" * 64, 2, -1, 0, activity=act)

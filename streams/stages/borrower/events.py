"""Decode exchange.events records straight into what the profile fold needs (pure).

The generic path (codec decode -> fastavro datum with datetimes and Decimals ->
``ExchangeEvent``/``LoanFacts`` dataclasses -> apply's strings) cost ~13 us per event,
and fastavro alone against the schema stripped of logical types ~5 us (its reader
dispatches on type names for every field). Records written with the current
``io.creditstream.ExchangeEvent`` schema (recognised by their header: single-object
fingerprint, or the Confluent id this codec encodes with) are read here by hand
(:func:`_read_event`, ~2 us): the record's binary layout is fixed by that schema, and
the decoder is used only when the schema has exactly the shape it reads (``event_check.SHAPE``)
and it reads start-up samples exactly as the generic path does. The result is an
:data:`Op`: the arguments of ``streams.domain.profile.fold.apply_activity`` /
``apply_loan``, named. Any other header (an older writer schema, another registry id)
takes the generic path, which resolves schemas; both give the same :data:`Op`, which
the unit tests also compare.
"""

from __future__ import annotations

import logging
import sys
from typing import Final, Literal

from streams.domain.profile.fold import loan_args
from streams.domain.profile.state import T_CODE
from streams.domain.validation import from_avro, to_avro
from streams.stages.borrower.event_check import (
    SHAPE,
    enum_symbols,
    sample_activity,
    sample_loan,
    sample_long,
)
from streams.wire.binary import DEC_CACHE, decimal_str, read_length, read_long
from streams.wire.codec import SINGLE_OBJECT_MAGIC, SniffingCodec
from streams.wire.events import ExchangeEvent, LoanEventType
from streams.wire.schemas import EXCHANGE_EVENT, shape

log = logging.getLogger(__name__)
EXPECTED = frozenset({EXCHANGE_EVENT})
_intern = sys.intern


#: A decoded loan event, flat: where it came from (``OP_*``), then the parameters of
#: ``streams.domain.profile.fold.apply_loan`` between ``t`` and the config (``LOAN_*``).
LoanOp = tuple[
    int, str, int, Literal[True], str, str, int, int, str, str, str, str, int, int, str | None
]
#: A decoded activity event: the same ``OP_*`` fields, then the parameters of
#: ``streams.domain.profile.fold.apply_activity`` between ``t`` and the config (``ACT_*``).
ActivityOp = tuple[int, str, int, Literal[False], str, str, int, str, str, str]
#: One decoded event, flat (one plain tuple per event, built as a literal): a
#: :data:`LoanOp` or an :data:`ActivityOp`, told apart by ``op[OP_IS_LOAN]`` (which mypy
#: narrows on). Fields are read by the index constants below, which mypy reads as
#: literals: ``op[LOAN_PRINCIPAL]`` is typed ``str``. Not a NamedTuple: building and
#: reading those cost 0.5-0.8 us per event, 1-2 % of the stage path, where these cost
#: nothing measurable (``bench/results/hot_path_ab.json``).
Op = LoanOp | ActivityOp
OP_PARTITION: Final = 0  # the input partition (the state goes to the same changelog one)
OP_BORROWER: Final = 1  # borrower_id
OP_INGESTED: Final = 2  # ingested_at, epoch ms
OP_IS_LOAN: Final = 3  # True in a LoanOp, False in an ActivityOp
OP_PLATFORM: Final = 4  # interned: platforms repeat, and key every state
OP_EVENT_ID: Final = 5
OP_T: Final = 6  # occurred_at, epoch ms
LOAN_TYPE: Final = 7  # typ: a streams.domain.profile.state.T_CODE
LOAN_ID: Final = 8
LOAN_LENDER: Final = 9
LOAN_CURRENCY: Final = 10
LOAN_PRINCIPAL: Final = 11  # the outstanding principal, a decimal str
LOAN_DPD: Final = 12  # days past due
LOAN_DUE_DAY: Final = 13  # the due date in days since epoch, -1 when unknown
LOAN_CORRECTS: Final = 14  # corrects_event_id (str | None)
ACT_KIND: Final = 7  # an ActivityKind symbol
ACT_CURRENCY: Final = 8
ACT_AMOUNT: Final = 9  # a decimal str


def op_of(partition: int, ev: ExchangeEvent) -> Op:
    """The :data:`Op` of a decoded ``ExchangeEvent`` (the generic path)."""
    t, act, facts = ev.occurred_at_ms, ev.activity, ev.loan
    bid, ingested, eid = ev.borrower_id, ev.ingested_at_ms, ev.event_id
    plat = sys.intern(ev.platform)
    if act is not None:
        kind, amount = str(act.kind), str(act.amount)
        return (partition, bid, ingested, False, plat, eid, t, kind, act.currency, amount)
    if facts is None:
        raise ValueError("event carries neither loan nor activity facts")
    return (partition, bid, ingested, True, plat, eid, t, *loan_args(facts))


def _read_event(
    data: bytes,
    pos: int,
    partition: int,
    types: tuple[int, ...],
    products: tuple[str, ...],
    kinds: tuple[str, ...],
) -> Op:
    """The :data:`Op` of the ExchangeEvent body at ``data[pos:]`` (schema: ``event_check.SHAPE``);
    ``types`` are the ``T_CODE`` of the LoanEventType symbols, ``products`` and ``kinds``
    the Product and ActivityKind symbols. Raises ValueError/IndexError on anything but
    one whole valid record.

    Written out flat on purpose: a function call costs more than reading a field. A
    string is ``length, UTF-8 bytes``; most lengths and small ints take one byte ``b``
    (``b < 0x80``, value ``(b >> 1) ^ -(b & 1)``; ``b & 0x81 == 0`` for a length), the
    rest go through ``wire.binary.read_long``. A field running past the end makes the next read
    raise IndexError, or the final position check fail.
    """
    b = data[pos]  # event_id
    ln, pos = read_length(data, pos) if b & 0x81 else (b >> 1, pos + 1)
    end = pos + ln
    event_id = data[pos:end].decode()
    b = data[end]  # platform
    ln, pos = read_length(data, end) if b & 0x81 else (b >> 1, end + 1)
    end = pos + ln
    platform = _intern(data[pos:end].decode())
    b = data[end]  # borrower_id (64 hex: a 2-byte length)
    ln, pos = read_length(data, end) if b & 0x81 else (b >> 1, end + 1)
    end = pos + ln
    borrower_id = data[pos:end].decode()
    b = data[end]  # key_version (not needed)
    pos = end + 1 if b < 0x80 else read_long(data, end)[1]
    occurred, pos = read_long(data, pos)
    ingested, pos = read_long(data, pos)
    branch = data[pos]
    if branch == 2:  # loan: LoanFacts
        b = data[pos + 1]  # loan_id
        ln, pos = read_length(data, pos + 1) if b & 0x81 else (b >> 1, pos + 2)
        end = pos + ln
        loan_id = data[pos:end].decode()
        b = data[end]  # lender
        ln, pos = read_length(data, end) if b & 0x81 else (b >> 1, end + 1)
        end = pos + ln
        lender = data[pos:end].decode()
        b = data[end]  # product (not needed: checked)
        if b & 0x81 or b >> 1 >= len(products):
            raise ValueError("bad product")
        b = data[end + 1]  # type
        if b & 0x81:
            raise ValueError("bad loan event type")
        typ = types[b >> 1]
        b = data[end + 2]  # amount (not needed): bytes, at most 8 of them
        if b & 0x81:
            raise ValueError("bad amount")
        pos = end + 3 + (b >> 1)
        b = data[pos]  # currency
        if b & 0x81:
            raise ValueError("bad currency")
        end = pos + 1 + (b >> 1)
        currency = data[pos + 1 : end].decode()
        b = data[end]  # principal_outstanding
        if b & 0x81:
            raise ValueError("bad principal")
        pos = end + 1 + (b >> 1)
        raw = data[end + 1 : pos]
        principal = DEC_CACHE.get(raw) or decimal_str(raw)
        b = data[pos]  # days_past_due
        dpd, pos = ((b >> 1) ^ -(b & 1), pos + 1) if b < 0x80 else read_long(data, pos)
        due = -1
        branch = data[pos]  # due_date
        if branch == 2:
            due, pos = read_long(data, pos + 1)
        elif branch:
            raise ValueError("bad due_date branch")
        else:
            pos += 1
        branch = data[pos]  # term_months (not needed)
        if branch == 2:
            pos = read_long(data, pos + 1)[1]
        elif branch:
            raise ValueError("bad term_months branch")
        else:
            pos += 1
        corrects = None
        branch = data[pos]  # corrects_event_id
        if branch == 2:
            ln, pos = read_length(data, pos + 1)
            end = pos + ln
            corrects = data[pos:end].decode()
            pos = end
        elif branch:
            raise ValueError("bad corrects_event_id branch")
        else:
            pos += 1
        if data[pos] != 0:  # activity: null
            raise ValueError("an event with both loan and activity facts")
        if pos + 1 != len(data):
            raise ValueError(f"{len(data) - pos - 1} trailing bytes after the event")
        return (
            partition,
            borrower_id,
            ingested,
            True,
            platform,
            event_id,
            occurred,
            typ,
            loan_id,
            lender,
            currency,
            principal,
            dpd,
            due,
            corrects,
        )
    if branch != 0 or data[pos + 1] != 2:
        raise ValueError("event carries neither loan nor activity facts")
    b = data[pos + 2]  # kind
    if b & 0x81:
        raise ValueError("bad activity kind")
    kind = kinds[b >> 1]
    b = data[pos + 3]  # amount: bytes, at most 8 of them
    if b & 0x81:
        raise ValueError("bad amount")
    end = pos + 4 + (b >> 1)
    raw = data[pos + 4 : end]
    amount = DEC_CACHE.get(raw) or decimal_str(raw)
    b = data[end]  # currency
    ln, pos = read_length(data, end) if b & 0x81 else (b >> 1, end + 1)
    end = pos + ln
    currency = data[pos:end].decode()
    b = data[end]  # category (not needed: checked)
    ln, pos = read_length(data, end) if b & 0x81 else (b >> 1, end + 1)
    data[pos : pos + ln].decode()
    if pos + ln != len(data):
        raise ValueError(f"{len(data) - pos - ln} trailing bytes after the event")
    return (
        partition,
        borrower_id,
        ingested,
        False,
        platform,
        event_id,
        occurred,
        kind,
        currency,
        amount,
    )


class EventDecoder:
    """``decode(partition, value) -> Op``; raises DecodeError/ValueError/KeyError/...
    on records that are not valid ExchangeEvents (the caller counts and skips them)."""

    def __init__(self, codec: SniffingCodec) -> None:
        self.codec = codec
        schema = codec.single.schemas.info(EXCHANGE_EVENT).resolved
        self._fast: dict[bytes, int] = {}  # header -> its length
        fields = {f["name"]: f["type"] for f in schema["fields"]}
        if shape(schema) != SHAPE:
            log.warning("ExchangeEvent differs from what borrower.events reads: generic path")
            return
        types = enum_symbols(fields["loan"], "type")
        self._enums = (
            tuple(T_CODE[LoanEventType(symbol)] for symbol in types),
            enum_symbols(fields["loan"], "product"),
            enum_symbols(fields["activity"], "kind"),
        )
        sample = sample_loan()
        for encoded in (
            codec.single.encode(EXCHANGE_EVENT, to_avro(sample)),
            codec.encode(EXCHANGE_EVENT, to_avro(sample)),
        ):
            n = 10 if encoded.startswith(SINGLE_OBJECT_MAGIC) else 5
            self._fast[encoded[:n]] = n
        # The fast path is kept only if it reads samples exactly as the generic one does.
        for ev in (sample, sample_activity(), sample_long()):
            encoded = codec.encode(EXCHANGE_EVENT, to_avro(ev))
            if self.decode(0, encoded) != op_of(0, from_avro(codec.decode(encoded)[1])):
                log.warning("borrower.events misreads ExchangeEvent: generic path")
                self._fast.clear()

    @property
    def fast(self) -> bool:
        """True when the hand-written reader runs (else every record takes the codec)."""
        return bool(self._fast)

    def decode(self, partition: int, value: bytes) -> Op:
        n = self._fast.get(value[:10]) or self._fast.get(value[:5])
        if n is not None:
            types, products, kinds = self._enums
            return _read_event(value, n, partition, types, products, kinds)
        return op_of(partition, from_avro(self.codec.decode(value, EXPECTED)[1]))

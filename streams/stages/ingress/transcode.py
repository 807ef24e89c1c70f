"""Platform records to ``ExchangeEvent`` bytes without the generic decode and encode (pure).

The generic path decodes a platform record with fastavro (~11 us: datetimes, Decimals,
a dict), validates it, builds the dataclasses, turns them back into a datum and encodes
that with fastavro (~15 us). But ``LoanFacts`` is the tail of ``LoanEvent`` field for
field (``loan_id`` on) and ``ActivityFacts`` the tail of ``ActivityEvent`` (``kind``
on): so the ``ExchangeEvent`` body is the new head (event_id, platform, borrower_id,
key_version, the two times), the union branch, and the platform's own tail bytes.

:class:`Transcoder` contract:

* :meth:`~Transcoder.read` reads a record of the *current* platform schema (its
  single-object fingerprint, or with a Schema Registry the id the codec writes) expected
  on the topic (``kind``) by hand into the datum validation reads
  (times as epoch-ms ints, amounts as ``Decimal``, ``due_date`` as a date) and the offset
  of its tail. It returns None, and the caller takes the generic path, for anything else:
  another framing or schema version, a wrong schema for the topic, and any record it
  cannot read *or that is not encoded exactly as fastavro would encode its datum*
  (a longer varint than needed, an amount with extra bytes). So the tail it hands on is
  byte for byte the encoding of the validated values, and every refusal (with its
  reason and message) still comes from the generic path.
* :meth:`~Transcoder.write` is the ``ExchangeEvent`` record of a validated event whose
  platform record :meth:`read` read.
* It runs only when the schemas have the shape it reads and when it gives the generic
  path's datum and bytes on start-up samples (``stages.ingress.samples``;
  :attr:`Transcoder.fast`, ``creditstream_fast_path{stage="ingress", part="transcode"}``).
  ``tests/unit/test_ingress_transcode.py`` compares the two paths on generated and
  corrupted records.
"""

from __future__ import annotations

import logging
from datetime import date
from decimal import Decimal
from typing import Any, Final

from streams.stages.ingress.samples import generic, samples
from streams.wire.binary import SOME, long_, read_length, read_long, string
from streams.wire.codec import SINGLE_OBJECT_MAGIC, SniffingCodec
from streams.wire.events import ExchangeEvent
from streams.wire.schemas import ACTIVITY_EVENT, EXCHANGE_EVENT, LOAN_EVENT, SchemaSet, shape

log = logging.getLogger(__name__)

#: The platform schemas' layout :func:`_read_loan` / :func:`_read_activity` read.
LOAN_SHAPE: Final = (
    "{string long:timestamp-millis string string string string enum enum bytes:decimal/2 "
    "string bytes:decimal/2 int [null int:date] [null int] [null string]}"
)
ACTIVITY_SHAPE: Final = (
    "{string long:timestamp-millis string string enum bytes:decimal/2 string string}"
)
_HEAD = 4  # event_id, occurred_at, user_key, national_id: what the exchange replaces
_MAX_TIME = 253_402_300_800_000  # 10000-01-01 in epoch ms: fastavro's datetimes end there
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_MAX_UNSCALED = 10**18  # decimal(18, 2); beyond it fastavro rounds to 18 digits


def _header_length(record: bytes) -> int:
    return 10 if record.startswith(SINGLE_OBJECT_MAGIC) else 5  # else Confluent framing


def _header(record: bytes) -> bytes:
    return record[: _header_length(record)]


class _DeclinedError(Exception):
    """Declined by the fast path: the generic path decides."""


def _long(data: bytes, pos: int) -> tuple[int, int]:
    """An int/long in its shortest encoding (else :class:`_DeclinedError`)."""
    b = data[pos]
    if b < 0x80:
        return (b >> 1) ^ -(b & 1), pos + 1
    n, end = read_long(data, pos)
    if data[end - 1] == 0:  # a trailing zero group: a longer varint than needed
        raise _DeclinedError
    return n, end


def _str(data: bytes, pos: int) -> tuple[str, int]:
    b = data[pos]
    if b & 0x81:
        n, pos = read_length(data, pos)
        if data[pos - 1] == 0:
            raise _DeclinedError
    else:
        n, pos = b >> 1, pos + 1
    end = pos + n
    if end > len(data):
        raise _DeclinedError
    return data[pos:end].decode(), end


_DECIMALS: dict[bytes, Decimal] = {}


def _decimal(data: bytes, pos: int) -> tuple[Decimal, int]:
    """A ``decimal(18, 2)`` written as fastavro writes it (else :class:`_DeclinedError`)."""
    b = data[pos]
    if b & 0x81 or b > 16:  # more than 8 bytes: beyond decimal(18, 2) anyway
        raise _DeclinedError
    end = pos + 1 + (b >> 1)
    raw = data[pos + 1 : end]
    got = _DECIMALS.get(raw)
    if got is None:
        n = int.from_bytes(raw, "big", signed=True)
        if len(raw) != (abs(n).bit_length() + 8) // 8 or not -_MAX_UNSCALED < n < _MAX_UNSCALED:
            raise _DeclinedError
        got = Decimal(n).scaleb(-2)
        if len(_DECIMALS) > 100_000:  # a safety valve: amounts repeat a lot
            _DECIMALS.clear()
        _DECIMALS[raw] = got
    return got, end


def _head(data: bytes, pos: int) -> tuple[dict[str, Any], int]:
    event_id, pos = _str(data, pos)
    occurred, pos = _long(data, pos)
    if not 0 <= occurred < _MAX_TIME:
        raise _DeclinedError
    user_key, pos = _str(data, pos)
    national_id, pos = _str(data, pos)
    head = {
        "event_id": event_id,
        "occurred_at": occurred,
        "user_key": user_key,
        "national_id": national_id,
    }
    return head, pos


def _optional(data: bytes, pos: int) -> tuple[int | None, int]:
    branch = data[pos]
    if branch == 0:
        return None, pos + 1
    if branch != 2:
        raise _DeclinedError
    return _long(data, pos + 1)


def _read_loan(
    data: bytes, pos: int, enums: tuple[tuple[str, ...], ...]
) -> tuple[dict[str, Any], int]:
    d, pos = _head(data, pos)
    tail = pos
    d["loan_id"], pos = _str(data, pos)
    d["lender"], pos = _str(data, pos)
    product, pos = _long(data, pos)
    typ, pos = _long(data, pos)
    if product < 0 or typ < 0:
        raise _DeclinedError
    d["product"], d["type"] = enums[0][product], enums[1][typ]
    d["amount"], pos = _decimal(data, pos)
    d["currency"], pos = _str(data, pos)
    d["principal_outstanding"], pos = _decimal(data, pos)
    d["days_past_due"], pos = _long(data, pos)
    due, pos = _optional(data, pos)
    d["due_date"] = None if due is None else date.fromordinal(_EPOCH_ORDINAL + due)
    d["term_months"], pos = _optional(data, pos)
    branch = data[pos]
    if branch == 2:
        d["corrects_event_id"], pos = _str(data, pos + 1)
    elif branch == 0:
        d["corrects_event_id"], pos = None, pos + 1
    else:
        raise _DeclinedError
    if pos != len(data):
        raise _DeclinedError
    return d, tail


def _read_activity(
    data: bytes, pos: int, enums: tuple[tuple[str, ...], ...]
) -> tuple[dict[str, Any], int]:
    d, pos = _head(data, pos)
    tail = pos
    kind, pos = _long(data, pos)
    if kind < 0:
        raise _DeclinedError
    d["kind"] = enums[2][kind]
    d["amount"], pos = _decimal(data, pos)
    d["currency"], pos = _str(data, pos)
    d["category"], pos = _str(data, pos)
    if pos != len(data):
        raise _DeclinedError
    return d, tail


def _symbols(schema: dict[str, Any], name: str) -> tuple[str, ...]:
    (field,) = (f for f in schema["fields"] if f["name"] == name)
    return tuple(field["type"]["symbols"])


class Transcoder:
    """Hand-read platform records, hand-written ``ExchangeEvent`` records (see module)."""

    def __init__(self, codec: SniffingCodec, *, enabled: bool = True) -> None:
        self._headers: dict[bytes, tuple[str, int]] = {}  # header -> (schema, its length)
        self._enums: tuple[tuple[str, ...], ...] = ((), (), ())
        self._out = b""
        reason = self._unusable(codec) if enabled else "switched off"
        if reason is None:
            reason = self._misreads(codec)
        if reason is not None:
            self._headers.clear()
            log.info("ingress: platform records take the generic codec path (%s)", reason)

    @property
    def fast(self) -> bool:
        """True when :meth:`read` reads records by hand (else it always says None)."""
        return bool(self._headers)

    def _unusable(self, codec: SniffingCodec) -> str | None:
        schemas: SchemaSet = codec.single.schemas
        loan = schemas.info(LOAN_EVENT).resolved
        activity = schemas.info(ACTIVITY_EVENT).resolved
        exchange = {f["name"]: f["type"] for f in schemas.info(EXCHANGE_EVENT).resolved["fields"]}
        if shape(loan) != LOAN_SHAPE or shape(activity) != ACTIVITY_SHAPE:
            return "the platform schemas are not the layout it reads"
        for platform, facts in ((loan, exchange["loan"][1]), (activity, exchange["activity"][1])):
            tail = platform["fields"][_HEAD:]
            if [(f["name"], shape(f["type"])) for f in tail] != [
                (f["name"], shape(f["type"])) for f in facts["fields"]
            ]:
                return "a facts record is not the tail of its platform record"
            for f, g in zip(tail, facts["fields"], strict=True):
                if shape(f["type"]) == "enum" and f["type"]["symbols"] != g["type"]["symbols"]:
                    return f"the {f['name']} symbols differ"
        self._enums = (
            _symbols(loan, "product"),
            _symbols(loan, "type"),
            _symbols(activity, "kind"),
        )
        # The headers it reads: single-object fingerprints, and with a Schema Registry
        # the ids its codec writes; the one it writes: its codec's (samples check all).
        for name in (LOAN_EVENT, ACTIVITY_EVENT):
            header = SINGLE_OBJECT_MAGIC + schemas.info(name).fingerprint
            self._headers[header] = (name, len(header))
        for name, datum in samples():
            raw = codec.encode(name, datum)
            header = _header(raw)
            self._headers[header] = (name, len(header))
        self._out = _header(generic(codec, raw)[2][0])
        return None

    def _misreads(self, codec: SniffingCodec) -> str | None:
        """Why the fast path disagrees with the generic one on the samples (None: it agrees)."""
        for schema, datum in samples():
            raw = codec.encode(schema, datum)
            kind = "loans" if schema == LOAN_EVENT else "activity"
            got = self.read(raw, kind)
            want_schema, want_datum, want_bytes = generic(codec, raw)
            if got is None or got[0] != want_schema or got[1] != want_datum:
                return f"it misreads a sample {schema}"
            if self.write(want_bytes[1], raw, got[2]) != want_bytes[0]:
                return "it writes a sample ExchangeEvent differently"
        return None

    def read(self, data: bytes, kind: str) -> tuple[str, dict[str, Any], int] | None:
        """``(schema name, datum, tail offset)`` of a record it reads, else None."""
        found = self._headers.get(data[:10]) or self._headers.get(data[:5])
        if found is None:
            return None
        schema, pos = found
        try:
            if schema == LOAN_EVENT and kind == "loans":
                datum, tail = _read_loan(data, pos, self._enums)
            elif schema == ACTIVITY_EVENT and kind == "activity":
                datum, tail = _read_activity(data, pos, self._enums)
            else:
                return None
            return schema, datum, tail
        except (_DeclinedError, IndexError, ValueError, OverflowError):  # UnicodeDecodeError too
            return None

    def write(self, event: ExchangeEvent, data: bytes, tail: int) -> bytes:
        """The ``ExchangeEvent`` record of ``event``, read from ``data`` (tail at ``tail``)."""
        head = b"".join(
            (
                self._out,
                string(event.event_id),
                string(event.platform),
                string(event.borrower_id),
                long_(event.key_version),
                long_(event.occurred_at_ms),
                long_(event.ingested_at_ms),
            )
        )
        if event.loan is not None:
            return head + SOME + data[tail:] + b"\x00"
        return head + b"\x00" + SOME + data[tail:]

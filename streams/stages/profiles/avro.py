"""Avro binary of ``io.creditstream.BorrowerProfile`` / ``ProfileUpdate`` bodies, by hand.

The stage writes a profile for most events it reads; going through
``profile_to_avro`` (Decimals, datetimes, a dict per map) and fastavro's generic writer
cost ~40 us per profile. The records are fixed, so their bodies are written here
straight from a :data:`streams.domain.profile.model.View` (ints, strs, tuples) following the
Avro spec's binary encoding: zig-zag varints for int/long, length-prefixed UTF-8
strings, maps and arrays as one counted block plus the empty block, unions as the
branch index then the value, ``decimal(18, 2)`` as the minimal big-endian two's
complement of the unscaled value (as fastavro writes it, so the bytes are identical).

Correctness is not assumed: :class:`streams.stages.profiles.records.OutputEncoder` compares
these bytes with the codec's own encoding at start-up and falls back to the codec if
they ever differ (a schema change this module does not know).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from decimal import ROUND_HALF_EVEN, Decimal
from io import BytesIO
from typing import Any, TypeVar

from fastavro import parse_schema, schemaless_reader

from streams.domain.profile.alerts import Alert
from streams.domain.profile.model import MAX_CENTS, Credit, Money, MoneyPairs, View
from streams.domain.profile.windows import ProfileConfig
from streams.wire.schemas import BORROWER_PROFILE, load_schemas

_SMALL = 4096
_MAX_UNSCALED = MAX_CENTS + 1  # decimal(18, 2): fastavro refuses more digits, so do we


class AmountOverflowError(ValueError):
    """An amount beyond ``decimal(18, 2)`` (see ``profile.model.MAX_CENTS``): the caller
    publishes the saturated view instead (``profiles.batch``)."""


_ONE = Decimal(1)
_EMPTY = b"\x00"  # an empty map/array block (the terminator), or union branch null
_SOME = b"\x02"  # union branch 1 (the value) of ["null", ...]


def _varint(z: int) -> bytes:
    out = []
    while z > 0x7F:
        out.append((z & 0x7F) | 0x80)
        z >>= 7
    out.append(z)
    return bytes(out)


_HIGH: dict[int, bytes] = {}  # varint of z >> 21: epoch-ms times share it for ~17 minutes


def _zigzag(n: int) -> bytes:
    z = (n << 1) ^ (n >> 63)
    if z < 1 << 21:
        return _varint(z)
    # The low three 7-bit groups, then the varint of the rest (cached): a varint is
    # exactly that, and times (most large values here) repeat their high bits.
    high = z >> 21
    tail = _HIGH.get(high)
    if tail is None:
        if len(_HIGH) > 10_000:  # a safety valve
            _HIGH.clear()
        tail = _HIGH[high] = _varint(high)
    return bytes(((z & 0x7F) | 0x80, ((z >> 7) & 0x7F) | 0x80, ((z >> 14) & 0x7F) | 0x80)) + tail


_SMALL_LONGS = [_zigzag(i) for i in range(_SMALL)]
_SMALL_OF = _SMALL_LONGS.__getitem__


def long_(n: int) -> bytes:
    """An Avro int/long."""
    return _SMALL_LONGS[n] if 0 <= n < _SMALL else _zigzag(n)


_STRINGS: dict[str, bytes] = {}


def string(s: str) -> bytes:
    """An Avro string; encodings of short repeated strings (labels, currencies,
    platforms, alert kinds) are cached."""
    got = _STRINGS.get(s)
    if got is None:
        raw = s.encode()
        got = long_(len(raw)) + raw
        if len(s) <= 32:  # not borrower ids: millions of them, each written once
            if len(_STRINGS) > 50_000:  # a safety valve, never reached by real names
                _STRINGS.clear()
            _STRINGS[s] = got
    return got


def decimal2(c: Money) -> bytes:
    """An Avro ``decimal(18, 2)`` (bytes) of an amount in cents."""
    n = c if isinstance(c, int) else int(c.quantize(_ONE, rounding=ROUND_HALF_EVEN))
    if not -_MAX_UNSCALED < n < _MAX_UNSCALED:
        raise AmountOverflowError("amount exceeds decimal(18, 2)")
    raw = n.to_bytes((abs(n).bit_length() + 8) // 8, "big", signed=True)
    return _SMALL_LONGS[len(raw)] + raw


def _opt_long(n: int | None) -> bytes:
    return _EMPTY if n is None else _SOME + long_(n)


def _money_map(pairs: MoneyPairs) -> bytes:
    if not pairs:
        return _EMPTY
    parts = [long_(len(pairs))]
    for cur, amount in pairs:
        parts.append(string(cur))
        parts.append(decimal2(amount))
    parts.append(_EMPTY)
    return b"".join(parts)


def _int_map(keys: tuple[bytes, ...], values: tuple[int, ...]) -> bytes:
    if not keys:
        return _EMPTY
    parts = [_SMALL_LONGS[len(keys)]]
    for k, v in zip(keys, values, strict=True):
        parts.append(k)
        parts.append(long_(v))
    parts.append(_EMPTY)
    return b"".join(parts)


def _map_template(keys: tuple[bytes, ...]) -> bytes:
    """A ``bytes %`` template of a map with these (encoded) keys: one ``%b`` a value."""
    if not keys:
        return _EMPTY
    parts = [_SMALL_LONGS[len(keys)].replace(b"%", b"%%")]
    for k in keys:
        parts.append(k.replace(b"%", b"%%"))
        parts.append(b"%b")
    parts.append(_EMPTY)
    return b"".join(parts)


def _sum_map(keys: tuple[bytes, ...], values: list[bytes]) -> list[bytes]:
    """The parts of a map with these (encoded) keys and (encoded) values."""
    if not keys:
        return [_EMPTY]
    parts = [_SMALL_LONGS[len(keys)]]
    for k, v in zip(keys, values, strict=True):
        parts.append(k)
        parts.append(v)
    parts.append(_EMPTY)
    return parts


def _strings(items: Iterable[str]) -> bytes:
    parts = [string(s) for s in items]
    return _EMPTY if not parts else b"".join([long_(len(parts)), *parts, _EMPTY])


class ProfileBodies:
    """Writes BorrowerProfile bodies for one :class:`ProfileConfig` (its window labels).

    The credit and activity blocks are each one ``bytes %`` of a template built here
    (the window maps' counts and labels are constants of the config) with the encoded
    values: one C call instead of a Python call per field. Every int in them is a
    non-negative count or days past due, so below 4096 it is a table lookup; anything
    else takes the field-by-field path.
    """

    def __init__(self, config: ProfileConfig) -> None:
        def keys(labels: tuple[str, ...]) -> tuple[bytes, ...]:
            return tuple(string(label) for label in labels)

        self._count = keys(config.count_labels)
        self._lender = keys(config.lender_labels)
        self._dpd = keys(config.dpd_labels)
        self._spend = keys(config.spend_labels)
        count, lender, dpd, spend = self._count, self._lender, self._dpd, self._spend
        self._credit_fmt = b"".join(
            (
                b"%b%b",  # open_loans, outstanding_principal
                _map_template(count),  # loans_opened
                _map_template(count),  # applications
                _map_template(lender),  # lenders_applied
                _map_template(lender),  # lenders_borrowing
                b"%b",  # current_days_past_due
                _map_template(dpd),  # worst_days_past_due
                b"%b%b%b%b%b%b",  # payment_history .. write_offs, first_delinquency
            )
        )
        # spend_count, spend_sum (a map of money maps), travel_bookings, platforms_active
        self._activity_fmt = _map_template(spend) + _map_template(spend) + b"%b%b"
        # Encodings of recurring values, bounded: credit blocks, platform lists.
        self._credit: dict[Credit, bytes] = {}
        self._platforms: dict[tuple[str, ...], bytes] = {}
        self._asof = (-1, b"")

    def _credit_block(self, credit: Credit) -> bytes:
        """open_loans .. first_delinquency (contiguous in the schema), field by field."""
        count, lender = self._count, self._lender
        return b"".join(
            (
                long_(credit[0]),  # open_loans
                _money_map(credit[1]),  # outstanding_principal
                _int_map(count, credit[2]),  # loans_opened
                _int_map(count, credit[3]),  # applications
                _int_map(lender, credit[4]),  # lenders_applied
                _int_map(lender, credit[5]),  # lenders_borrowing
                long_(credit[6]),  # current_days_past_due
                _int_map(self._dpd, credit[7]),  # worst_days_past_due
                string(credit[8]),  # payment_history
                long_(credit[9]),  # repayments_on_time
                long_(credit[10]),  # repayments_late
                long_(credit[11]),  # defaults
                long_(credit[12]),  # write_offs
                _opt_long(credit[13]),  # first_delinquency
            )
        )

    def credit(self, credit: Credit) -> bytes:
        """The encoded credit block of ``credit`` (cached by value: identical for every
        borrower without loans, and for many with)."""
        got = self._credit.get(credit)
        if got is None:
            got = _cache(self._credit, credit, self._credit_template(credit))
        return got

    def _credit_template(self, credit: Credit) -> bytes:
        small = _SMALL_LONGS
        long_of = _SMALL_OF  # (map(): no Python frame per value, unlike a comprehension)
        first = credit[13]
        try:
            return self._credit_fmt % (
                small[credit[0]],
                _money_map(credit[1]) if credit[1] else _EMPTY,
                *map(long_of, credit[2]),
                *map(long_of, credit[3]),
                *map(long_of, credit[4]),
                *map(long_of, credit[5]),
                small[credit[6]],
                *map(long_of, credit[7]),
                _STRINGS.get(credit[8]) or string(credit[8]),
                small[credit[9]],
                small[credit[10]],
                small[credit[11]],
                small[credit[12]],
                _EMPTY if first is None else _SOME + _zigzag(first),
            )
        except IndexError:  # an int of 4096 or more
            return self._credit_block(credit)

    def activity(
        self, s_counts: tuple[int, ...], s_sums: tuple[MoneyPairs, ...], travel: int, active: int
    ) -> bytes:
        """spend_count .. platforms_active (contiguous in the schema)."""
        small = _SMALL_LONGS
        sums = []
        last: MoneyPairs | None = None
        for pairs in s_sums:
            if pairs is not last:  # windows holding the same sums share them
                got = _money_map(pairs) if pairs else _EMPTY
                last = pairs
            sums.append(got)
        try:
            return self._activity_fmt % (
                *map(_SMALL_OF, s_counts),
                *sums,
                small[travel],
                small[active],
            )
        except IndexError:  # an int of 4096 or more
            return b"".join(
                (
                    _int_map(self._spend, s_counts),
                    *_sum_map(self._spend, sums),
                    long_(travel),
                    long_(active),
                )
            )

    def body(self, v: View) -> bytes:
        """The BorrowerProfile body of ``v`` (fields in schema order)."""
        core, s_counts, s_sums, asof, version, platforms, last = v
        credit, travel, active, first = core
        if asof != self._asof[0]:  # the same for most of a batch: its read time
            self._asof = (asof, long_(asof))
        plats = self._platforms.get(platforms)
        if plats is None:
            plats = _cache(self._platforms, platforms, _strings(platforms))
        return b"".join(
            (
                self._asof[1],
                _SMALL_LONGS[version] if 0 <= version < _SMALL else _zigzag(version),
                self.credit(credit),
                self.activity(s_counts, s_sums, travel, active),
                _EMPTY if first is None else _SOME + _zigzag(first),  # first_seen
                plats,  # contributing_platforms
                _EMPTY if last is None else _SOME + _zigzag(last),  # last_event
            )
        )


_K = TypeVar("_K")


def _cache(cache: dict[_K, bytes], key: _K, value: bytes) -> bytes:
    if len(cache) > 20_000:  # bounded: these repeat, but need not
        cache.clear()
    cache[key] = value
    return value


def update(
    header: bytes,
    borrower_id: str,
    version: int,
    material: bool,
    last_ingested_ms: int,
    alerts: Sequence[Alert],
    profile_body: bytes | memoryview,
) -> bytes:
    """A whole ProfileUpdate: ``header``, the fields before ``profile`` (its last
    field), then the profile's body."""
    raw = borrower_id.encode()
    parts: list[bytes | memoryview] = [
        header,
        long_(len(raw)),
        raw,
        _SMALL_LONGS[version] if 0 <= version < _SMALL else _zigzag(version),
        b"\x01" if material else b"\x00",
        _zigzag(last_ingested_ms),
    ]
    if alerts:
        parts.append(long_(len(alerts)))
        for a in alerts:
            parts.append(string(a.kind.value))
            parts.append(string(a.reason))
    parts.append(_EMPTY)
    parts.append(profile_body)
    return b"".join(parts)


@functools.cache
def _reader_schema() -> Any:
    # Logical types stripped: times stay ints, decimals their unscaled bytes.
    info = load_schemas().info(BORROWER_PROFILE)
    return parse_schema(strip_logical(info.resolved))


def strip_logical(schema: Any) -> Any:
    """``schema`` without ``logicalType`` annotations (fastavro then skips conversions)."""
    if isinstance(schema, dict):
        return {k: strip_logical(v) for k, v in schema.items() if k != "logicalType"}
    if isinstance(schema, list):
        return [strip_logical(s) for s in schema]
    return schema


def read_body(body: bytes) -> View:
    """The :data:`View` a BorrowerProfile body was written from (window maps in the
    order written, which :class:`ProfileBodies` makes the config's window order)."""
    d: Any = schemaless_reader(BytesIO(body), _reader_schema(), None)

    def money(m: dict[str, bytes]) -> MoneyPairs:
        return tuple(sorted((c, int.from_bytes(b, "big", signed=True)) for c, b in m.items()))

    credit = (
        d["open_loans"],
        money(d["outstanding_principal"]),
        tuple(d["loans_opened"].values()),
        tuple(d["applications"].values()),
        tuple(d["lenders_applied"].values()),
        tuple(d["lenders_borrowing"].values()),
        d["current_days_past_due"],
        tuple(d["worst_days_past_due"].values()),
        d["payment_history"],
        d["repayments_on_time"],
        d["repayments_late"],
        d["defaults"],
        d["write_offs"],
        d["first_delinquency"],
    )
    core = (credit, d["travel_bookings"], d["platforms_active"], d["first_seen"])
    return (
        core,
        tuple(d["spend_count"].values()),
        tuple(money(m) for m in d["spend_sum"].values()),
        d["as_of"],
        d["profile_version"],
        tuple(d["contributing_platforms"]),
        d["last_event"],
    )

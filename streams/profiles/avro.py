"""Avro binary of ``io.creditstream.BorrowerProfile`` / ``ProfileUpdate`` bodies, by hand.

The stage writes a profile for most events it reads; going through
``profile_to_avro`` (Decimals, datetimes, a dict per map) and fastavro's generic writer
cost ~40 us per profile. The records are fixed, so their bodies are written here
straight from a :data:`streams.profile_view.View` (ints, strs, tuples) following the
Avro spec's binary encoding: zig-zag varints for int/long, length-prefixed UTF-8
strings, maps and arrays as one counted block plus the empty block, unions as the
branch index then the value, ``decimal(18, 2)`` as the minimal big-endian two's
complement of the unscaled value (as fastavro writes it, so the bytes are identical).

Correctness is not assumed: :class:`streams.profiles.records.OutputEncoder` compares
these bytes with the codec's own encoding at start-up and falls back to the codec if
they ever differ (a schema change this module does not know).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from decimal import ROUND_HALF_EVEN, Decimal
from io import BytesIO
from typing import Any, TypeVar

from fastavro import parse_schema, schemaless_reader

from streams.alerts import Alert
from streams.profile_view import Money, MoneyPairs, View
from streams.schemas import BORROWER_PROFILE, load_schemas
from streams.windows import ProfileConfig

_SMALL = 4096
_MAX_UNSCALED = 10**18  # decimal(18, 2): fastavro refuses more digits, so do we
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
        raise ValueError("amount exceeds decimal(18, 2)")
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


def _strings(items: Iterable[str]) -> bytes:
    parts = [string(s) for s in items]
    return _EMPTY if not parts else b"".join([long_(len(parts)), *parts, _EMPTY])


class ProfileBodies:
    """Writes BorrowerProfile bodies for one :class:`ProfileConfig` (its window labels)."""

    def __init__(self, config: ProfileConfig) -> None:
        def keys(labels: tuple[str, ...]) -> tuple[bytes, ...]:
            return tuple(string(label) for label in labels)

        self._count = keys(config.count_labels)
        self._lender = keys(config.lender_labels)
        self._dpd = keys(config.dpd_labels)
        self._spend = keys(config.spend_labels)
        # Encodings of recurring parts, bounded: the credit block (identical for every
        # borrower without loans, and for many with), spend counts, platform lists.
        self._credit: dict[tuple[Any, ...], bytes] = {}
        self._counts: dict[tuple[int, ...], bytes] = {}
        self._platforms: dict[tuple[str, ...], bytes] = {}
        self._asof = (-1, b"")

    def _credit_block(self, core: tuple[Any, ...]) -> bytes:
        """open_loans .. first_delinquency (contiguous in the schema: core[0:14])."""
        count, lender = self._count, self._lender
        return b"".join(
            (
                long_(core[0]),  # open_loans
                _money_map(core[1]),  # outstanding_principal
                _int_map(count, core[2]),  # loans_opened
                _int_map(count, core[3]),  # applications
                _int_map(lender, core[4]),  # lenders_applied
                _int_map(lender, core[5]),  # lenders_borrowing
                long_(core[6]),  # current_days_past_due
                _int_map(self._dpd, core[7]),  # worst_days_past_due
                string(core[8]),  # payment_history
                long_(core[9]),  # repayments_on_time
                long_(core[10]),  # repayments_late
                long_(core[11]),  # defaults
                long_(core[12]),  # write_offs
                _opt_long(core[13]),  # first_delinquency
            )
        )

    def body(self, v: View) -> bytes:
        """The BorrowerProfile body of ``v`` (fields in schema order)."""
        core, s_counts, s_sums, asof, version, platforms, last = v
        key = core[:14]
        credit = self._credit.get(key)
        if credit is None:
            credit = _cache(self._credit, key, self._credit_block(key))
        counts = self._counts.get(s_counts)
        if counts is None:
            counts = _cache(self._counts, s_counts, _int_map(self._spend, s_counts))
        plats = self._platforms.get(platforms)
        if plats is None:
            plats = _cache(self._platforms, platforms, _strings(platforms))
        if asof != self._asof[0]:  # the same for most of a batch: its read time
            self._asof = (asof, long_(asof))
        return b"".join(
            (
                self._asof[1],
                long_(version),
                credit,
                counts,  # spend_count
                self._spend_sum(s_sums),
                long_(core[14]),  # travel_bookings
                long_(core[15]),  # platforms_active
                _opt_long(core[16]),  # first_seen
                plats,  # contributing_platforms
                _opt_long(last),  # last_event
            )
        )

    def _spend_sum(self, s_sums: tuple[MoneyPairs, ...]) -> bytes:
        spend = self._spend
        if not spend:
            return _EMPTY
        sums = [long_(len(spend))]
        for key, pairs in zip(spend, s_sums, strict=True):
            sums.append(key)
            sums.append(_money_map(pairs))
        sums.append(_EMPTY)
        return b"".join(sums)


_K = TypeVar("_K")


def _cache(cache: dict[_K, bytes], key: _K, value: bytes) -> bytes:
    if len(cache) > 20_000:  # bounded: these repeat, but need not
        cache.clear()
    cache[key] = value
    return value


def update_head(
    borrower_id: str, version: int, material: bool, last_ingested_ms: int, alerts: list[Alert]
) -> bytes:
    """The ProfileUpdate fields before ``profile`` (its last field)."""
    parts = [
        string(borrower_id),
        long_(version),
        b"\x01" if material else b"\x00",
        long_(last_ingested_ms),
    ]
    if alerts:
        parts.append(long_(len(alerts)))
        for a in alerts:
            parts.append(string(a.kind.value))
            parts.append(string(a.reason))
    parts.append(_EMPTY)
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

    core = (
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
        d["travel_bookings"],
        d["platforms_active"],
        d["first_seen"],
    )
    return (
        core,
        tuple(d["spend_count"].values()),
        tuple(money(m) for m in d["spend_sum"].values()),
        d["as_of"],
        d["profile_version"],
        tuple(d["contributing_platforms"]),
        d["last_event"],
    )

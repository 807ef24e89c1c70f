"""The profile records' Avro values by hand: ``decimal(18, 2)`` amounts, maps, arrays.

Built on ``streams.wire.binary``'s primitives: maps and arrays as one counted block plus
the empty block, ``decimal(18, 2)`` as the minimal big-endian two's complement of the
unscaled value (as fastavro writes it, so the bytes are identical). They serve
``bodies`` (the ``BorrowerProfile``/``ProfileUpdate`` writer).
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import ROUND_HALF_EVEN, Decimal

from streams.domain.profile.model import MAX_CENTS, Money, MoneyPairs
from streams.wire.binary import EMPTY, SMALL_LONGS, SOME, long_, string

_MAX_UNSCALED = MAX_CENTS + 1  # decimal(18, 2): fastavro refuses more digits, so do we


class AmountOverflowError(ValueError):
    """An amount beyond ``decimal(18, 2)`` (see ``profile.model.MAX_CENTS``): the caller
    publishes the saturated view instead (``fold``)."""


_ONE = Decimal(1)


def decimal2(c: Money) -> bytes:
    """An Avro ``decimal(18, 2)`` (bytes) of an amount in cents."""
    n = c if isinstance(c, int) else int(c.quantize(_ONE, rounding=ROUND_HALF_EVEN))
    if not -_MAX_UNSCALED < n < _MAX_UNSCALED:
        raise AmountOverflowError("amount exceeds decimal(18, 2)")
    raw = n.to_bytes((abs(n).bit_length() + 8) // 8, "big", signed=True)
    return SMALL_LONGS[len(raw)] + raw


def opt_long(n: int | None) -> bytes:
    return EMPTY if n is None else SOME + long_(n)


def money_map(pairs: MoneyPairs) -> bytes:
    if not pairs:
        return EMPTY
    parts = [long_(len(pairs))]
    for cur, amount in pairs:
        parts.append(string(cur))
        parts.append(decimal2(amount))
    parts.append(EMPTY)
    return b"".join(parts)


def int_map(keys: tuple[bytes, ...], values: tuple[int, ...]) -> bytes:
    if not keys:
        return EMPTY
    parts = [SMALL_LONGS[len(keys)]]
    for k, v in zip(keys, values, strict=True):
        parts.append(k)
        parts.append(long_(v))
    parts.append(EMPTY)
    return b"".join(parts)


def map_template(keys: tuple[bytes, ...]) -> bytes:
    """A ``bytes %`` template of a map with these (encoded) keys: one ``%b`` a value."""
    if not keys:
        return EMPTY
    parts = [SMALL_LONGS[len(keys)].replace(b"%", b"%%")]
    for k in keys:
        parts.append(k.replace(b"%", b"%%"))
        parts.append(b"%b")
    parts.append(EMPTY)
    return b"".join(parts)


def sum_map(keys: tuple[bytes, ...], values: list[bytes]) -> list[bytes]:
    """The parts of a map with these (encoded) keys and (encoded) values."""
    if not keys:
        return [EMPTY]
    parts = [SMALL_LONGS[len(keys)]]
    for k, v in zip(keys, values, strict=True):
        parts.append(k)
        parts.append(v)
    parts.append(EMPTY)
    return parts


def strings(items: Iterable[str]) -> bytes:
    parts = [string(s) for s in items]
    return EMPTY if not parts else b"".join([long_(len(parts)), *parts, EMPTY])

"""Avro binary values by hand: zig-zag varints, strings, lengths, ``decimal(18, 2)``.

The primitives of the hand-written readers and writers (``stages.ingress.transcode``,
``stages.borrower.events``, ``bodies`` and ``deliverybytes``), following the Avro spec's
binary encoding: zig-zag varints for int/long, length-prefixed UTF-8 strings, unions as
the branch index then the value. The writers give the bytes fastavro gives (the
shortest varint); the readers accept any valid encoding. Encodings of small or recurring
values are cached, each cache bounded by a safety valve.
"""

from __future__ import annotations

SMALL = 4096
EMPTY = b"\x00"  # an empty map/array block (the terminator), or union branch null
SOME = b"\x02"  # union branch 1 (the value) of ["null", ...]


def _varint(z: int) -> bytes:
    out = []
    while z > 0x7F:
        out.append((z & 0x7F) | 0x80)
        z >>= 7
    out.append(z)
    return bytes(out)


_HIGH_BYTES: dict[int, bytes] = {}  # varint of z >> 21: epoch-ms times share it for ~17 minutes


def zigzag(n: int) -> bytes:
    z = (n << 1) ^ (n >> 63)
    if z < 1 << 21:
        return _varint(z)
    # The low three 7-bit groups, then the varint of the rest (cached): a varint is
    # exactly that, and times (most large values here) repeat their high bits.
    high = z >> 21
    tail = _HIGH_BYTES.get(high)
    if tail is None:
        if len(_HIGH_BYTES) > 10_000:  # a safety valve
            _HIGH_BYTES.clear()
        tail = _HIGH_BYTES[high] = _varint(high)
    return bytes(((z & 0x7F) | 0x80, ((z >> 7) & 0x7F) | 0x80, ((z >> 14) & 0x7F) | 0x80)) + tail


SMALL_LONGS = [zigzag(i) for i in range(SMALL)]
SMALL_OF = SMALL_LONGS.__getitem__


def long_(n: int) -> bytes:
    """An Avro int/long."""
    return SMALL_LONGS[n] if 0 <= n < SMALL else zigzag(n)


STRINGS: dict[str, bytes] = {}


def string(s: str) -> bytes:
    """An Avro string; encodings of short repeated strings (labels, currencies,
    platforms, alert kinds) are cached."""
    got = STRINGS.get(s)
    if got is None:
        raw = s.encode()
        got = long_(len(raw)) + raw
        if len(s) <= 32:  # not borrower ids: millions of them, each written once
            if len(STRINGS) > 50_000:  # a safety valve, never reached by real names
                STRINGS.clear()
            STRINGS[s] = got
    return got


# -- reading --------------------------------------------------------------------------
DEC_CACHE: dict[bytes, str] = {}


def decimal_str(unscaled: bytes) -> str:
    """``str`` of the ``decimal(18, 2)`` with these unscaled bytes (as ``Decimal`` prints
    it: always two decimals, never an exponent at this scale)."""
    got = DEC_CACHE.get(unscaled)
    if got is None:
        n = int.from_bytes(unscaled, "big", signed=True)
        q, r = divmod(abs(n), 100)
        got = f"{'-' if n < 0 else ''}{q}.{r:02d}"
        if len(DEC_CACHE) > 100_000:  # a safety valve: amounts repeat a lot
            DEC_CACHE.clear()
        DEC_CACHE[unscaled] = got
    return got


_HIGH_VALUE: dict[bytes, int] = {}  # bytes 3..5 of a 6-byte varint -> their share of the value


def read_long(data: bytes, pos: int) -> tuple[int, int]:
    """An Avro int/long (zig-zag varint) at ``pos``: (value, next position)."""
    z = data[pos]  # IndexError past the end
    if z < 0x80:
        return (z >> 1) ^ -(z & 1), pos + 1
    b = data[pos + 1]
    if b < 0x80:  # 2 bytes: lengths of 64..8191
        z = (z & 0x7F) | b << 7
        return (z >> 1) ^ -(z & 1), pos + 2
    # 6 bytes, the 3 high ones cached: epoch-ms times until 2039, sharing them for ~35
    # minutes (value = high part + low 21 bits, halved: zig-zag of a non-negative).
    high = _HIGH_VALUE.get(data[pos + 3 : pos + 6])
    if high is not None:
        c = data[pos + 2]
        if not z & 1 and c >= 0x80:
            return high + (((z & 0x7F) | (b & 0x7F) << 7 | (c & 0x7F) << 14) >> 1), pos + 6
    else:  # learn it (bounded: times move slowly, a new high part every ~35 minutes)
        if len(_HIGH_VALUE) >= 4096:
            _HIGH_VALUE.clear()
        tail = data[pos + 3 : pos + 6]
        if len(tail) == 3 and tail[0] >= 0x80 and tail[1] >= 0x80 and tail[2] < 0x80:
            _HIGH_VALUE[tail] = ((tail[0] & 0x7F) | (tail[1] & 0x7F) << 7 | tail[2] << 14) << 20
    z = shift = 0
    while True:
        b = data[pos]
        pos += 1
        z |= (b & 0x7F) << shift
        if b < 0x80:
            return (z >> 1) ^ -(z & 1), pos
        shift += 7
        if shift > 63:
            raise ValueError("varint longer than a long")


def read_length(data: bytes, pos: int) -> tuple[int, int]:
    """A string or bytes length at ``pos``: (length, next position)."""
    n, pos = read_long(data, pos)
    if n < 0:
        raise ValueError("negative length")
    return n, pos

"""Which partition a key lands on: Kafka's murmur2 partitioner, in Python.

The exchange's keyed topics are written with librdkafka's ``murmur2_random``
partitioner, the Java client's default (``streams.runtime.clients``, the SDKs), so a
borrower's records on every co-partitioned topic sit in partition
``toPositive(murmur2(borrower_id)) % partitions``. A reader looking for one borrower
(``creditstream report``) computes that partition here and reads only it. Pure; the
agreement with librdkafka is checked against a real broker
(``tests/integration/test_report_cli.py``).
"""

from __future__ import annotations

_M = 0x5BD1E995
_SEED = 0x9747B28C
_MASK = 0xFFFFFFFF


def murmur2(data: bytes) -> int:
    """Kafka's ``Utils.murmur2`` of ``data`` as an unsigned 32-bit value."""
    length = len(data)
    h = (_SEED ^ length) & _MASK
    tail = length & ~3
    for i in range(0, tail, 4):
        k = int.from_bytes(data[i : i + 4], "little")
        k = (k * _M) & _MASK
        k ^= k >> 24
        k = (k * _M) & _MASK
        h = (h * _M) & _MASK
        h ^= k
    rest = length & 3
    if rest == 3:
        h ^= data[tail + 2] << 16
    if rest >= 2:
        h ^= data[tail + 1] << 8
    if rest >= 1:
        h ^= data[tail]
        h = (h * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    h ^= h >> 15
    return h


def partition_for(key: bytes, partitions: int) -> int:
    """The partition of a non-empty ``key`` among ``partitions`` (``toPositive`` then
    modulo, as Java's and librdkafka's murmur2 partitioners do)."""
    if partitions < 1:
        raise ValueError(f"a topic has at least one partition, not {partitions}")
    return (murmur2(key) & 0x7FFFFFFF) % partitions

"""Kafka's murmur2 partitioner in Python (``streams.wire.partition``)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.wire.partition import murmur2, partition_for


@pytest.mark.parametrize(
    ("key", "signed"),
    [  # Kafka's own UtilsTest.testMurmur2 vectors (Java ints)
        ("21", -973932308),
        ("foobar", -790332482),
        ("a-little-bit-long-string", -985981536),
        ("a-little-bit-longer-string", -1486304829),
        ("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971),
        ("abc", 479470107),
    ],
)
def test_murmur2_matches_kafka(key: str, signed: int) -> None:
    assert murmur2(key.encode()) == signed & 0xFFFFFFFF


@given(st.binary(min_size=1, max_size=80), st.integers(1, 64))
def test_a_key_always_lands_inside_the_topic(key: bytes, partitions: int) -> None:
    assert 0 <= partition_for(key, partitions) < partitions


def test_a_topic_without_partitions_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one"):
        partition_for(b"k", 0)

"""Reading Kafka's ``find-hanging`` table (the command itself runs in
tests/integration/test_hanging_transactions.py)."""

from __future__ import annotations

from streams.localkafka.transactions import Hanging, parse_hanging

# As kafka-tools 4.3.1 prints it (tabs and padding as captured from a chaos run).
TABLE = (
    "Topic\tPartition\tProducerId\tProducerEpoch\tCoordinatorEpoch\tStartOffset\t"
    "LastTimestamp\tDuration(min)\t\n"
    "exchange.ingress-dedup\t3        \t6         \t1            \t0               \t"
    "485        \t1796546836267\t2        \t\n"
)


def test_each_row_is_a_hanging_transaction_and_the_header_is_not() -> None:
    (found,) = parse_hanging(TABLE)
    assert found == Hanging("exchange.ingress-dedup", 3, 6, 1, 485)
    assert str(found) == "exchange.ingress-dedup[3] from offset 485 (producer 6, epoch 1)"


def test_no_hanging_transaction_is_a_header_alone() -> None:
    assert parse_hanging(TABLE.splitlines()[0] + "\n") == []
    assert parse_hanging("") == []

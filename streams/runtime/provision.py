"""Create the exchange's topics with their partition counts and retention (idempotent).

Names, cleanup policies and retention come from the topology (``streams.topology.TOPOLOGY``);
partition counts from settings or ``--partitions``. A platform's and a bank's topics are
created when it is provisioned (``ensure_platform`` / ``ensure_bank``), the exchange's
own at worker start (``prepare_stage``, which also refuses to start a stage whose
co-partitioned topics differ in partition count) or by ``admin provision-exchange``.
An existing topic is never altered; a partition count other than the wanted one is an
error when provisioning the exchange and a logged warning otherwise (see ``ensure``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from streams import topics, topology
from streams.errors import BrokerError, ConfigError, StageHaltError
from streams.settings import KafkaConf

log = logging.getLogger(__name__)

MismatchPolicy = Literal["raise", "warn"]


@dataclass(frozen=True)
class TopicSpec:
    """A topic's name, partitions and configuration."""

    name: str
    partitions: int
    config: dict[str, str]


@dataclass(frozen=True)
class PartitionMismatch:
    """An existing topic whose partition count is not the wanted one."""

    name: str
    have: int
    want: int

    def __str__(self) -> str:
        return f"{self.name} has {self.have} partitions, not {self.want}"


def _specs(owner: topology.Owner, tenant: str, partitions: int) -> list[TopicSpec]:
    return [
        TopicSpec(t.named(tenant), partitions, dict(t.config))
        for t in topology.TOPOLOGY.owned_by(owner)
    ]


def exchange_topics(partitions: int) -> list[TopicSpec]:
    """The exchange's own topics (``streams.topology.TOPOLOGY``)."""
    return _specs("exchange", "", partitions)


def platform_topics(platform: str, partitions: int) -> list[TopicSpec]:
    """A platform's ingest topics (raw PII: short retention) and its rejects."""
    return _specs("platform", platform, partitions)


def bank_topics(bank: str, partitions: int) -> list[TopicSpec]:
    """A bank's subscription requests (compacted per customer_ref) and its feed."""
    return _specs("bank", bank, partitions)


def ensure(
    conf: KafkaConf,
    specs: list[TopicSpec],
    timeout: float = 30.0,
    *,
    mismatch: MismatchPolicy = "raise",
) -> list[str]:
    """Create every topic that does not exist yet; return the names created.

    An existing topic whose partition count differs from its spec's is never changed
    (Kafka cannot shrink a topic, and growing one moves keys to other partitions, which
    breaks co-partitioning and compacted state). ``mismatch="raise"`` (provisioning the
    exchange: the operator asked for a count and must hear it was not met) raises one
    BrokerError naming them all; ``"warn"`` logs each and goes on (tenant topics, where
    any count works, and the worker's start, which checks what must match itself).
    """
    return _ensure(conf, specs, timeout, mismatch)[0]


def _ensure(
    conf: KafkaConf, specs: list[TopicSpec], timeout: float, mismatch: MismatchPolicy
) -> tuple[list[str], dict[str, int]]:
    """``ensure``, also returning every spec's partition count on the broker."""
    admin = AdminClient(conf)
    futures = admin.create_topics(
        [
            NewTopic(s.name, num_partitions=s.partitions, replication_factor=1, config=s.config)
            for s in specs
        ],
        request_timeout=timeout,
    )
    created = []
    for name, future in futures.items():
        try:
            future.result(timeout=timeout)
            created.append(name)
        except KafkaException as exc:
            err = exc.args[0]
            if isinstance(err, KafkaError) and err.code() == KafkaError.TOPIC_ALREADY_EXISTS:
                continue
            raise BrokerError(f"could not create topic {name}: {err}") from exc
        except TimeoutError as exc:  # concurrent.futures' own: no answer at all
            raise BrokerError(
                f"could not create topic {name}: no answer from Kafka within {timeout:.0f} s"
            ) from exc
    counts = _await_visible(admin, [s.name for s in specs], timeout)
    wrong = mismatches(specs, counts)
    if wrong and mismatch == "raise":
        have = {m.have for m in wrong}
        hint = f"provision with --partitions {have.pop()}" if len(have) == 1 else "recreate them"
        raise BrokerError(
            f"{'; '.join(map(str, wrong))}: an existing topic keeps its partition count "
            f"(Kafka cannot shrink one, and growing one moves keys): {hint}"
        )
    for m in wrong:
        log.warning("%s (existing topic left as it is)", m)
    return created, counts


def mismatches(specs: list[TopicSpec], counts: Mapping[str, int]) -> list[PartitionMismatch]:
    """The specs whose topic exists with another partition count than wanted."""
    return [
        PartitionMismatch(s.name, counts[s.name], s.partitions)
        for s in specs
        if s.name in counts and counts[s.name] != s.partitions
    ]


def _await_visible(admin: AdminClient, names: list[str], timeout: float) -> dict[str, int]:
    """Return once every topic shows in metadata with its partitions: their counts.

    Creation is acknowledged by the controller before every broker's metadata cache
    has the topic; a client that looks right after ``ensure`` would otherwise be told
    "unknown topic". Callers get topics they can use at once.
    """
    deadline = time.monotonic() + timeout
    while True:
        listed = admin.list_topics(timeout=timeout).topics
        missing = [n for n in names if n not in listed or not listed[n].partitions]
        if not missing:
            return {n: len(listed[n].partitions) for n in names}
        if time.monotonic() > deadline:
            raise BrokerError(f"topics not visible {timeout:.0f}s after creation: {missing}")
        time.sleep(0.1)


def ensure_platform(conf: KafkaConf, platform: str, partitions: int) -> list[str]:
    """A platform's topics; an existing one keeps its count (any count works): logged."""
    if not topics.valid_tenant(platform):
        raise BrokerError(f"invalid platform name {platform!r}: use a-z, 0-9 and '-'")
    return ensure(conf, platform_topics(platform, partitions), mismatch="warn")


def ensure_bank(conf: KafkaConf, bank: str, partitions: int) -> list[str]:
    """A bank's topics; an existing one keeps its count (any count works): logged."""
    if not topics.valid_tenant(bank):
        raise BrokerError(f"invalid bank name {bank!r}: use a-z, 0-9 and '-'")
    return ensure(conf, bank_topics(bank, partitions), mismatch="warn")


def stage_problem(stage: topology.Stage, counts: Mapping[str, int], setting: int) -> str | None:
    """Why ``stage`` must not start on topics with these partition ``counts``, or None.

    Every co-partitioned set must have one partition count (partition p of each is one
    unit of work: one key's records and state); a ``pinned`` topic must have exactly
    ``setting`` partitions (the stage computes partition numbers from the setting).
    """
    for group in stage.copartitioned:
        first = group[0]
        for other in group[1:]:
            if counts[other] != counts[first]:
                return (
                    f"{stage.name}: {first} has {counts[first]} partitions but {other} has "
                    f"{counts[other]}: co-partitioned inputs must match (recreate one, or "
                    "run provision with the same --partitions)"
                )
    for name in (*stage.inputs, *stage.writes):
        topic = topology.TOPOLOGY.topic(name)
        if topic.partitions == "pinned" and counts[name] != setting:
            return (
                f"{stage.name}: {name} has {counts[name]} partitions but "
                f"CREDITSTREAM_PARTITIONS is {setting}: the stage computes its partitions "
                f"from the setting (set CREDITSTREAM_PARTITIONS={counts[name]})"
            )
    return None


def prepare_stage(conf: KafkaConf, stage_name: str, partitions: int) -> None:
    """Before a stage starts: the exchange's topics exist, and what the stage joins by
    key is co-partitioned; StageHaltError (one line, no restart) otherwise."""
    try:
        stage = topology.TOPOLOGY.stage(stage_name)
    except KeyError:
        raise ConfigError(f"stage {stage_name!r} is not declared in streams.topology") from None
    _created, counts = _ensure(conf, exchange_topics(partitions), 30.0, "warn")
    problem = stage_problem(stage, counts, partitions)
    if problem is not None:
        raise StageHaltError(problem)

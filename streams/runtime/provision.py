"""Create the exchange's topics with their partition counts and retention (idempotent).

The one place that knows each topic's cleanup policy and retention. Partition counts
come from settings; a platform's and a bank's topics are created when it is
provisioned (``ensure_platform`` / ``ensure_bank``), the exchange's own at worker start.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from streams import topics
from streams.errors import BrokerError
from streams.settings import KafkaConf

DAY_MS = 24 * 3600 * 1000


@dataclass(frozen=True)
class TopicSpec:
    """A topic's name, partitions and configuration."""

    name: str
    partitions: int
    config: dict[str, str]


def _delete(days: int) -> dict[str, str]:
    return {"cleanup.policy": "delete", "retention.ms": str(days * DAY_MS)}


COMPACT = {"cleanup.policy": "compact", "min.compaction.lag.ms": str(60_000)}


def exchange_topics(partitions: int) -> list[TopicSpec]:
    """The exchange's own topics."""
    return [
        TopicSpec(topics.EXCHANGE_EVENTS, partitions, _delete(30)),
        TopicSpec(topics.EXCHANGE_PROFILES, partitions, COMPACT),
        # Audit is evidence: long retention (10 years), never compacted.
        TopicSpec(topics.EXCHANGE_AUDIT, partitions, _delete(3650)),
        TopicSpec(topics.INGRESS_DEDUP, partitions, COMPACT | {"delete.retention.ms": "86400000"}),
        # Profile state is the stage's only durable memory: compacted, never deleted by age.
        TopicSpec(topics.PROFILE_STATE, partitions, COMPACT | {"delete.retention.ms": "86400000"}),
        TopicSpec(topics.PROFILE_UPDATES, partitions, _delete(14)),
        # Requests are applied within seconds; the durable consent state is fanout-state.
        TopicSpec(topics.CONSENTS, partitions, _delete(14)),
        # The fan-out's only durable memory (subscriptions): compacted, never aged out.
        TopicSpec(topics.FANOUT_STATE, partitions, COMPACT | {"delete.retention.ms": "86400000"}),
    ]


def platform_topics(platform: str, partitions: int) -> list[TopicSpec]:
    """A platform's ingest topics (raw PII: short retention) and its rejects."""
    return [
        TopicSpec(topics.ingest_loans(platform), partitions, _delete(7)),
        TopicSpec(topics.ingest_activity(platform), partitions, _delete(7)),
        TopicSpec(topics.rejected(platform), partitions, _delete(30)),
    ]


def bank_topics(bank: str, partitions: int) -> list[TopicSpec]:
    """A bank's subscription requests (compacted per customer_ref) and its feed."""
    return [
        TopicSpec(topics.subscriptions(bank), partitions, COMPACT),
        TopicSpec(topics.feed(bank), partitions, _delete(14)),
    ]


def ensure(conf: KafkaConf, specs: list[TopicSpec], timeout: float = 30.0) -> list[str]:
    """Create every topic that does not exist yet; return the names created."""
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
    _await_visible(admin, [s.name for s in specs], timeout)
    return created


def _await_visible(admin: AdminClient, names: list[str], timeout: float) -> None:
    """Return once every topic shows in metadata with its partitions.

    Creation is acknowledged by the controller before every broker's metadata cache
    has the topic; a client that looks right after ``ensure`` would otherwise be told
    "unknown topic". Callers get topics they can use at once.
    """
    deadline = time.monotonic() + timeout
    while True:
        listed = admin.list_topics(timeout=timeout).topics
        missing = [n for n in names if n not in listed or not listed[n].partitions]
        if not missing:
            return
        if time.monotonic() > deadline:
            raise BrokerError(f"topics not visible {timeout:.0f}s after creation: {missing}")
        time.sleep(0.1)


def ensure_platform(conf: KafkaConf, platform: str, partitions: int) -> list[str]:
    if not topics.valid_tenant(platform):
        raise BrokerError(f"invalid platform name {platform!r}: use a-z, 0-9 and '-'")
    return ensure(conf, platform_topics(platform, partitions))


def ensure_bank(conf: KafkaConf, bank: str, partitions: int) -> list[str]:
    if not topics.valid_tenant(bank):
        raise BrokerError(f"invalid bank name {bank!r}: use a-z, 0-9 and '-'")
    return ensure(conf, bank_topics(bank, partitions))

"""Settings: one frozen object built from the environment, secrets never printed.

Every variable is ``CREDITSTREAM_<FIELD>`` (e.g. ``CREDITSTREAM_BOOTSTRAP``). Secrets are
``SecretStr``: their ``repr``/``str`` is masked, so logging a ``Settings`` is safe.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, cast

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from streams.errors import ConfigError

#: The Apache Kafka release the local broker runs (see deploy/local/README.md for why).
KAFKA_VERSION = "4.3.1"
#: Seconds between the worker's full garbage collections (``streams.runtime.gcpolicy``).
FULL_COLLECT_EVERY_S = 1800.0

#: librdkafka configuration, as confluent-kafka types it.
KafkaConf = dict[str, str | int | float | bool]

#: The Python logger a Kafka client built from :meth:`Settings.kafka_client_config` logs
#: through when ``client_log_to_python`` is set (librdkafka's own lines,
#: ``client_log_level`` and up): the CLI sets it and hides them unless ``--verbose``
#: (its errors arrive as exceptions anyway). Otherwise librdkafka writes them to stderr.
CLIENT_LOGGER = "streams.kafka"


def default_cache_dir() -> Path:
    """Where downloaded Kafka jars live, outside the repo so clones share them."""
    return Path.home() / ".cache" / "creditstream"


#: Every stage a worker can run, in start order (``streams.topology`` declares each).
STAGES = ("ingress", "consents", "borrower")
STAGES_PATTERN = rf"^({'|'.join(STAGES)})(,({'|'.join(STAGES)}))*$"


class Settings(BaseSettings):
    """Everything configurable about a creditstream process."""

    model_config = SettingsConfigDict(env_prefix="CREDITSTREAM_", frozen=True, extra="ignore")

    # -- Kafka connection -------------------------------------------------------------
    bootstrap: str = Field("127.0.0.1:9092", description="Kafka bootstrap servers.")
    security_protocol: Literal["PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT",
        description=(
            "PLAINTEXT (a local broker), SASL_SSL (TLS + SCRAM: what a real exchange runs) "
            "or SASL_PLAINTEXT (SCRAM without TLS: only inside a trusted network)."
        ),
    )
    ssl_ca_file: Path | None = Field(
        None,
        description=(
            "PEM file of the CA that signed the brokers' certificates (SASL_SSL); unset: "
            "the system's trusted CAs. The local secure broker's is <data-dir>/tls/ca.crt."
        ),
    )
    sasl_mechanism: Literal["SCRAM-SHA-512", "PLAIN"] = "SCRAM-SHA-512"
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    sasl_password_file: Path | None = Field(
        None,
        description=(
            "A file holding the SASL password (a mounted secret: the password then never "
            "sits in the environment, where /proc/<pid>/environ and crash dumps show it); "
            "its trailing newline is cut. Give this or CREDITSTREAM_SASL_PASSWORD, not both."
        ),
    )
    client_log_level: int = Field(
        3, ge=0, le=7, description="librdkafka log level (syslog scale; 3 = errors only)."
    )
    client_log_to_python: bool = Field(
        False,
        description=(
            "Route the Kafka clients' log lines into the Python logger streams.kafka (the "
            "CLI does). Off in the worker: confluent-kafka 2.16 aborts the process "
            "(CallState_get assertion) when such a logger is called from a client's own "
            "thread, which the chaos run hit; the worker's stderr keeps librdkafka's lines."
        ),
    )
    schema_registry_url: str | None = Field(
        None,
        description="Confluent-compatible registry; unset means single-object Avro.",
    )

    # -- local broker -----------------------------------------------------------------
    kafka_version: str = KAFKA_VERSION
    cache_dir: Path = Field(default_factory=default_cache_dir)
    broker_port: int = Field(9092, ge=1, le=65535)
    broker_data_dir: Path = Path(".creditstream/broker")

    # -- worker -----------------------------------------------------------------------
    app_id: str = "creditstream"
    state_dir: Path = Path(".creditstream/state")
    partitions: int = Field(4, ge=1, description="Partitions of the exchange's topics.")
    web_port: int = Field(6066, ge=1, le=65535)
    web_host: str = Field("127.0.0.1", description="Interface the worker's web server listens on.")
    status_regulator_token_file: Path | None = Field(
        None,
        description=(
            "A file holding the token a regulator gives to use the status page's lookup "
            "'who received this person's data' (>= 16 characters, trailing newline cut; "
            "streams.worker.status.access). Unset: the lookup is disabled; the rest of "
            "the page is open and read-only."
        ),
    )
    instance_id: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9._-]{1,100}$",
        description="This worker's identity across restarts (static group membership and "
        "transactional ids); unset: kept in <state_dir>/instance-id.",
    )
    session_timeout_ms: int = Field(
        10_000, ge=6_000, le=300_000, description="How soon a dead worker's partitions move."
    )
    transaction_timeout_ms: int = Field(
        15_000,
        ge=1_000,
        le=900_000,
        description="How soon the broker aborts a dead worker's open transaction.",
    )
    kafka_wait_s: float = Field(
        120.0, ge=0, description="How long a starting worker waits for Kafka to answer."
    )
    stage_fetch_wait_ms: int = Field(
        500,
        ge=1,
        le=5000,
        description=(
            "fetch.wait.max.ms of the stages' consumers: how long the broker may hold a "
            "fetch that finds nothing new. Kafka 4.3 answers a held read_committed "
            "fetch as soon as commit markers move its partitions' last stable offset, "
            "so this is not a latency floor (bench_end_to_end, alternated: event to "
            "feed p50 16.0/16.8 ms at a trickle with 500 against 16.2/16.7 with 10); "
            "a short wait only makes idle consumers ask the broker more often."
        ),
    )
    stage_fetch_min_bytes: int = Field(
        1,
        ge=1,
        le=64 * 1024 * 1024,
        description=(
            "fetch.min.bytes of the stages' consumers: the broker holds a fetch until "
            "this much is there or stage_fetch_wait_ms passes. 1 (librdkafka's): "
            "every produce batch a platform sends completes ingress's waiting fetch. "
            "1 MiB with a 10 ms wait took ~0.1 of the broker's ~0.8 core at half the "
            "maximum rate and doubled event to feed p50 at a trickle (16 -> 30 ms), "
            "with no gain in latency at half the maximum (bench_end_to_end, "
            "alternated: bench/results/session15_ab.json)."
        ),
    )
    stage_batch_linger_ms: int = Field(
        0,
        ge=0,
        le=1000,
        description=(
            "Least milliseconds between the starts of a stage's transactions: a batch "
            "that would start sooner keeps collecting records until then (or until it "
            "is full). 0: every batch starts as soon as its first record is there. "
            "Measured at 40 (bench/results/session12_ab.json): ~35 ms more per event at "
            "a trickle, no clear gain at half the maximum rate."
        ),
    )
    stage_compression: Literal["none", "lz4", "zstd", "snappy", "gzip"] = Field(
        "none",
        description=(
            "Compression of what the stages write. none: on 2 cores it saved ~12 % of the "
            "worker's and ~20 % of the broker's CPU per event against lz4 "
            "(bench_end_to_end, alternated); lz4 where network or disk bytes cost more "
            "than CPU (the bank feeds' JSON shrinks ~3x)."
        ),
    )
    stage_restart_limit: int = Field(
        10, ge=0, description="Consecutive failed restarts of a stage before the worker exits."
    )
    stages: str = Field(
        ",".join(STAGES),
        pattern=STAGES_PATTERN,
        description=(
            "The stages this worker runs, comma-separated (default: all). Processes that "
            "run different stages still form the same consumer groups: e.g. one process "
            "with ingress,consents and one with borrower use two cores of one machine."
        ),
    )

    # -- ingress ----------------------------------------------------------------------
    ingress_batch_max: int = Field(2000, ge=1, description="Records per ingress transaction.")
    dedup_window_days: int = Field(8, ge=1, description="How long event_ids are remembered.")
    max_clock_skew_ms: int = Field(300_000, ge=0, description="How far ahead events may be.")
    max_record_bytes: int = Field(16 * 1024, ge=256, description="Larger records are rejected.")
    reject_guard_ratio: float = Field(
        0.95, gt=0, le=1, description="Stop ingress if this share of recent records is rejected."
    )
    reject_guard_window: int = Field(2000, ge=10, description="Records the guard looks at.")

    # -- the borrower stage (profiles and bank feeds) ----------------------------------------
    borrower_batch_max: int = Field(
        5000, ge=1, description="Events and consent requests per borrower transaction."
    )
    borrower_hot_states: int = Field(
        200_000, ge=0, description="Decoded borrower entries kept in memory (the rest as bytes)."
    )
    state_store: Literal["memory", "disk"] = Field(
        "disk",
        description=(
            "Where the stateful stages keep their committed state: disk (RocksDB per "
            "partition under <state_dir>/<stage>/<partition>, with the changelog offsets "
            "it reaches, so a restart or a returning partition replays only the "
            "changelog's tail) or memory (the whole changelog replayed on every start; "
            "memory grows with borrowers and, for ingress's event_ids, with traffic)."
        ),
    )
    state_flush_every_s: float = Field(
        30.0,
        gt=0,
        description=(
            "Seconds between flushes of the state stores' memory to their files. The "
            "stores write no log of their own (the changelog is the log), so this bounds "
            "what a crash makes recovery replay (a full write buffer also flushes)."
        ),
    )
    state_cleanup_delay_s: float = Field(
        600.0,
        ge=0,
        description=(
            "Seconds a partition's store stays on disk after this worker stopped owning "
            "it (a partition that comes back within that time replays only its tail; "
            "later its directory is deleted, as Kafka Streams' state.cleanup.delay.ms)."
        ),
    )
    state_block_cache_mb: int = Field(
        32, ge=1, description="RocksDB block cache per partition store, MiB."
    )
    state_write_buffer_mb: int = Field(
        16, ge=1, description="RocksDB write buffer (memtable) per partition store, MiB."
    )
    gc_full_collect_every_s: float = Field(
        FULL_COLLECT_EVERY_S,
        gt=0,
        description=(
            "Seconds between full garbage collections (the worker pauses for each: ~3 s"
            " at 200 000 decoded states; see streams.runtime.gcpolicy)."
        ),
    )
    profile_spend_material_ratio: float = Field(
        0.2, ge=0, description="Relative spend move that makes a profile change material."
    )

    # -- consents -------------------------------------------------------------------------
    consent_batch_max: int = Field(500, ge=1, description="Requests per consent transaction.")
    consent_prune_interval_ms: int = Field(
        1000, ge=100, description="How often expired subscriptions are pruned from state."
    )

    # -- the borrower's rights ----------------------------------------------------------
    dispute_deadline_days: float = Field(
        20.0,
        gt=0,
        description="Days a platform has to answer an objection (征信业管理条例 art. 25).",
    )
    dispute_unanswered: Literal["exclude", "keep-marked"] = Field(
        "exclude",
        description=(
            "What an objection unanswered at its deadline does: the record leaves the "
            "profile (exclude, FCRA §1681i(a)(5)), or it stays marked as not verified."
        ),
    )
    dispute_notify_days: float = Field(
        183.0,
        gt=0,
        description=(
            "A bank whose consent ended this recently, after receiving data derived from a "
            "disputed record, gets a correction notice when the dispute is answered."
        ),
    )
    erasure_credit: Literal["keep-negative", "keep-credit", "erase-all"] = Field(
        "keep-negative",
        description=(
            "What an erasure does to credit data (activity data always goes): keep the "
            "loans holding negative information for their retention (征信业管理条例 "
            "art. 16: 5 years after the loan ends) and remove the rest, keep every loan, "
            "or remove every loan."
        ),
    )
    dispute_history_days: float = Field(
        365.0, gt=0, description="Days an answered objection's outcome stays in the state."
    )

    # -- privacy ----------------------------------------------------------------------
    hmac_key: SecretStr | None = None
    hmac_key_file: Path | None = None
    hmac_key_version: int = Field(1, ge=1)

    @property
    def stage_names(self) -> tuple[str, ...]:
        """``stages`` as names, each once, in start order."""
        chosen = set(self.stages.split(","))
        return tuple(name for name in STAGES if name in chosen)

    def kafka_client_config(self) -> KafkaConf:
        """librdkafka settings for this connection (the secret is revealed only here)."""
        conf: KafkaConf = {
            "bootstrap.servers": self.bootstrap,
            "security.protocol": self.security_protocol,
            "log_level": self.client_log_level,
        }
        if self.client_log_to_python:
            # confluent-kafka takes a logging.Logger here; its stubs type values narrower.
            conf["logger"] = cast(Any, logging.getLogger(CLIENT_LOGGER))
        if self.security_protocol == "SASL_SSL" and self.ssl_ca_file is not None:
            if not self.ssl_ca_file.is_file():
                raise ConfigError(
                    f"the CA file {self.ssl_ca_file} (CREDITSTREAM_SSL_CA_FILE) is missing"
                )
            conf["ssl.ca.location"] = str(self.ssl_ca_file)
        if self.security_protocol != "PLAINTEXT":
            password = self.sasl_secret()
            if not self.sasl_username or password is None:
                raise ConfigError(
                    f"{self.security_protocol} needs CREDITSTREAM_SASL_USERNAME and "
                    "CREDITSTREAM_SASL_PASSWORD (or CREDITSTREAM_SASL_PASSWORD_FILE)"
                )
            conf["sasl.mechanism"] = self.sasl_mechanism
            conf["sasl.username"] = self.sasl_username
            conf["sasl.password"] = password.get_secret_value()
        return conf

    def sasl_secret(self) -> SecretStr | None:
        """The SASL password, from ``sasl_password`` or ``sasl_password_file``."""
        if self.sasl_password_file is None:
            return self.sasl_password
        if self.sasl_password is not None:
            raise ConfigError(
                "both CREDITSTREAM_SASL_PASSWORD and CREDITSTREAM_SASL_PASSWORD_FILE are set: "
                "give one"
            )
        try:
            text = self.sasl_password_file.read_text(encoding="utf-8").rstrip("\r\n")
        except (OSError, UnicodeDecodeError) as exc:
            why = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            raise ConfigError(
                f"cannot read the SASL password file {self.sasl_password_file}: {why}"
            ) from None
        if not text:
            raise ConfigError(f"the SASL password file {self.sasl_password_file} is empty")
        return SecretStr(text)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read from the environment once."""
    try:
        return Settings()
    except ValueError as exc:  # pydantic's ValidationError derives from ValueError
        raise ConfigError(f"invalid settings: {exc}") from exc

"""Settings of the log layer: which backend, and how it trades latency, durability and memory."""

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from iotstream._units import DurationMs, SizeBytes

__all__ = ["KAFKA_DEFAULT_PARTITIONS", "SUPPORTED_SCHEMES", "LogSettings"]

SUPPORTED_SCHEMES = ("sqlite", "kafka")
KAFKA_DEFAULT_PARTITIONS = 4

KafkaClientValue = str | int | float | bool


class LogSettings(BaseModel):
    """The `[log]` table of `iotstream.toml`; every field is also `IOTSTREAM_LOG__<FIELD>`.

    Example:
        >>> LogSettings(url="sqlite:///./data/log.db", linger_ms="2ms").linger_ms
        2
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str = Field(
        default="sqlite:///log.db",
        description="sqlite:///path.db (relative to data_dir), sqlite:////absolute/path.db, kafka://host:port[,...]",
    )
    format: Literal["json", "avro"] = Field(
        default="json",
        description="How iotstream writes its own topics (observations, aggregates.*, alerts, registry.*): "
        "JSON, or Confluent-framed Avro with schemas in the Schema Registry.",
    )
    kafka: dict[str, KafkaClientValue] = Field(
        default_factory=dict,
        repr=False,  # may hold sasl.password or ssl keys
        description="librdkafka settings passed to every Kafka client (security.protocol, sasl.*, ssl.*).",
    )
    request_timeout_ms: DurationMs = Field(
        default=10_000, ge=100, description="Bound on one Kafka admin or metadata request."
    )
    auto_create_topics: bool = Field(
        default=True, description="Create a missing topic on first produce instead of failing."
    )
    default_partitions: int = Field(
        default=1,
        ge=1,
        le=10_000,
        description=f"Partitions of new topics (1 on SQLite, {KAFKA_DEFAULT_PARTITIONS} on Kafka).",
    )
    fsync: bool = Field(
        default=True,
        description="Acknowledge a produce only after it is fsynced; false survives process crashes "
        "but not power loss.",
    )
    linger_ms: DurationMs = Field(
        default=2,
        ge=0,
        le=1_000,
        description="How long a producer waits for more records before writing a batch (SQLite's group "
        "commit, Kafka's linger.ms): throughput for latency; 0 writes at once.",
    )
    max_record_bytes: SizeBytes = Field(
        default=1_048_576,
        ge=1,
        description="The largest record (key, value and headers) a producer takes; a larger one is "
        "rejected. On Kafka the producer's message.max.bytes follows it.",
    )
    max_batch_bytes: SizeBytes = Field(
        default=1_048_576,
        ge=1,
        description="SQLite: the largest batch row written per partition, and how much may be queued "
        "before the writer stops lingering and writes.",
    )
    buffer_max_bytes: SizeBytes = Field(
        default=64 * 1024 * 1024, ge=1, description="Producer memory bound before produce blocks."
    )
    max_block_ms: DurationMs = Field(
        default=5_000,
        ge=0,
        description="How long a produce waits for room while `buffer_max_bytes` is full before it fails "
        "as backpressure.",
    )
    delivery_timeout_ms: DurationMs = Field(
        default=30_000,
        ge=0,
        description="How long a record may take to be written and acknowledged, retries included, before "
        "it fails: SQLite retries a locked file this long; Kafka's message.timeout.ms.",
    )
    busy_timeout_ms: DurationMs = Field(
        default=5_000,
        ge=0,
        description="SQLite: how long a connection waits while another process holds the log file locked.",
    )
    session_timeout_ms: DurationMs = Field(
        default=10_000,
        ge=100,
        description="A consumer-group member without a heartbeat this long is expired and its partitions "
        "go to the others (Kafka's session.timeout.ms).",
    )
    heartbeat_interval_ms: DurationMs = Field(
        default=1_000,
        ge=10,
        description="How often a consumer-group member heartbeats (on SQLite, when it polls; Kafka's "
        "heartbeat.interval.ms); keep it well below `session_timeout_ms`.",
    )
    poll_interval_ms: DurationMs = Field(
        default=10,
        ge=1,
        le=10_000,
        description="SQLite: how often a waiting consumer checks for records written by other processes "
        "(its own process's wake it at once).",
    )
    keep_unread_by: list[str] = Field(
        default_factory=list,
        description="Consumer groups whose unread records retention never deletes (an edge site's relay).",
    )
    maintenance_interval_ms: DurationMs = Field(
        default=60_000,
        ge=0,
        description="How often retention and compaction run; 0 turns them off.",
    )

    @model_validator(mode="before")
    @classmethod
    def _several_partitions_on_kafka(cls, data: Any) -> Any:
        """On Kafka (the distributed mode) topics get several partitions unless told otherwise, so
        several `jobs` and `sink` processes can share them; one process on SQLite has no use for more."""
        kafka = isinstance(data, dict) and str(data.get("url", "")).startswith("kafka://")
        if kafka and "default_partitions" not in data:
            return {**data, "default_partitions": KAFKA_DEFAULT_PARTITIONS}
        return data

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, url: str) -> str:
        scheme, sep, rest = url.partition("://")
        if not sep or scheme not in SUPPORTED_SCHEMES:
            expected = ", ".join(f"{s}://" for s in SUPPORTED_SCHEMES)
            raise ValueError(f"unsupported log url {url!r}; expected one of: {expected}")
        if scheme == "sqlite" and not rest.startswith("/"):
            raise ValueError(f"sqlite url {url!r} needs three slashes: sqlite:///path/to/log.db")
        if scheme == "kafka" and not all(_is_host_port(b) for b in rest.split(",")):
            raise ValueError(f"kafka url {url!r} must list brokers as kafka://host:port[,host:port]")
        return url


def _is_host_port(address: str) -> bool:
    host, sep, port = address.rpartition(":")
    return bool(host) and bool(sep) and port.isdigit()

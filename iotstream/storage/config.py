"""Settings of the storage layer: which database, and how long each tier of data is kept."""

from pydantic import BaseModel, ConfigDict, Field, field_validator

from iotstream._units import DurationMs, SizeBytes
from iotstream.storage.retention import RetentionSettings

__all__ = ["SUPPORTED_SCHEMES", "StorageSettings"]

SUPPORTED_SCHEMES = ("duckdb", "postgresql", "postgres")


class StorageSettings(BaseModel):
    """The `[storage]` table of `iotstream.toml`; every field is also `IOTSTREAM_STORAGE__<FIELD>`.

    Example:
        >>> StorageSettings(url="duckdb:///./data/store.duckdb", retention={"raw": "30d"}).retention.raw
        2592000000
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str = Field(
        default="duckdb:///store.duckdb",
        description="duckdb:///path.duckdb (relative to data_dir), duckdb:////absolute/path.duckdb, "
        "postgresql://user:password@host:port/database",
    )
    retention: RetentionSettings = Field(
        default=RetentionSettings(),
        description="The `[storage.retention]` table: how long raw readings and each rollup are kept, by "
        "default or per datastream.",
    )
    rollup_delay_ms: DurationMs = Field(
        default=5_000,
        ge=0,
        description="DuckDB: how long rollups may lag behind the readings (queries never see the lag).",
    )
    duckdb_checkpoint_bytes: SizeBytes = Field(
        default=64 * 1024**2,
        ge=1024**2,
        description="DuckDB writes its WAL into the store file once it holds this much. Until then the "
        "data is in memory too: at 5,000 readings/s 256 MB took 10 minutes to reach and 250 MB of RAM; "
        "a smaller one checkpoints more often (a checkpoint delays writes for a moment).",
    )
    duckdb_memory_bytes: SizeBytes = Field(
        default=1024**3,
        ge=64 * 1024**2,
        description="DuckDB's memory at most: the data not yet checkpointed, the store's blocks it keeps "
        "cached and queries' working memory; beyond it the cache gives way and big queries spill to disk. "
        "DuckDB's own default is 80 % of the machine's RAM, which its cache of a growing store fills.",
    )
    duckdb_threads: int | None = Field(
        default=None,
        ge=1,
        description="DuckDB's threads; default: one fewer than the cores (at least one), leaving a core to "
        "ingestion and the sink. On two cores a second DuckDB thread costs every small write a quarter "
        "of a millisecond to wake it, and big queries would take the core ingestion needs.",
    )

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, url: str) -> str:
        scheme, sep, rest = url.partition("://")
        if not sep or scheme not in SUPPORTED_SCHEMES:
            raise ValueError(
                f"unsupported storage url {url!r}; expected duckdb:///path or postgresql://host/database"
            )
        if scheme == "duckdb" and not rest.startswith("/"):
            raise ValueError(f"duckdb url {url!r} needs three slashes: duckdb:///path/to/store.duckdb")
        return url

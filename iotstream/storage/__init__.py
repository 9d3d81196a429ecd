"""The time-series store: raw readings, rollups, window results, late readings and alerts.

`open_storage` picks the backend from the URL scheme, so code never names a backend directly.
"""

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from iotstream.exceptions import ConfigError
from iotstream.storage.base import BaseStorage, Rejected
from iotstream.storage.config import StorageSettings
from iotstream.storage.exceptions import StorageError, StorageUnavailableError
from iotstream.storage.retention import RetentionPolicy, RetentionSettings, RetentionWorker

__all__ = [
    "BaseStorage",
    "Rejected",
    "RetentionPolicy",
    "RetentionSettings",
    "RetentionWorker",
    "StorageError",
    "StorageSettings",
    "StorageUnavailableError",
    "open_storage",
]


def open_storage(
    settings: StorageSettings | str, *, clock: Callable[[], float] = time.time, **overrides: Any
) -> BaseStorage:
    """Open the store described by `settings` (or by a URL plus `StorageSettings` field overrides).

    Example:
        >>> import tempfile
        >>> store = open_storage(f"duckdb:///{tempfile.mkdtemp()}/store.duckdb")
        >>> store.latest()
        {}
        >>> store.close()
    """
    if isinstance(settings, str):
        try:
            settings = StorageSettings(url=settings, **overrides)
        except ValueError as err:
            raise ConfigError(f"invalid storage settings: {err}") from err
    retention = RetentionPolicy(settings.retention, clock)
    scheme, _, rest = settings.url.partition("://")
    if scheme == "duckdb":
        from iotstream.storage.duckdb import DuckDBStorage

        delay_ms, threads = settings.rollup_delay_ms, settings.duckdb_threads
        return DuckDBStorage(
            Path(rest[1:]),
            retention,
            rollup_delay_ms=delay_ms,
            threads=threads,
            checkpoint_bytes=settings.duckdb_checkpoint_bytes,
            memory_bytes=settings.duckdb_memory_bytes,
        )
    from iotstream.storage.postgres import PostgresStorage

    return PostgresStorage(settings.url.replace("postgres://", "postgresql://", 1), retention)

"""What `Client` and `AsyncClient` share: their settings, the disk buffer, and turning answers into
DataFrames. Each adds only its transport (httpx.Client or httpx.AsyncClient) and its waiting."""

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from iotstream.client.buffer import DiskBuffer, OnFull
from iotstream.client.frames import FrameKind, to_pandas, to_polars
from iotstream.client.queries import ColumnSpec, columns_of

if TYPE_CHECKING:
    import pandas as pd
    import polars as pl

__all__ = ["BaseClient", "patterns_of"]


class BaseClient:
    """The settings of a client (see `Client` for each)."""

    def __init__(
        self,
        url: str,
        token: str | None,
        *,
        buffer: str | Path | None,
        buffer_max_readings: int,
        buffer_max_bytes: int,
        on_buffer_full: OnFull,
        batch_size: int,
        give_up_after_s: float,
        timeout_s: float,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"the platform's URL must start with http:// or https://, got {url!r}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.url = url.rstrip("/")
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.batch_size = batch_size
        self.give_up_after_s = give_up_after_s
        self.timeout = httpx.Timeout(
            timeout_s, connect=min(timeout_s, 5.0)
        )  # a device must not hang on a dead link
        self.disk_buffer = (
            None
            if buffer is None
            else DiskBuffer(
                buffer, max_readings=buffer_max_readings, max_bytes=buffer_max_bytes, on_full=on_buffer_full
            )
        )

    @property
    def buffered(self) -> int:
        """Readings in the disk buffer, not yet acknowledged by the platform (0 without a buffer)."""
        return 0 if self.disk_buffer is None else len(self.disk_buffer)

    @property
    def dropped(self) -> int:
        """Readings the full disk buffer dropped (oldest first) since this client started."""
        return 0 if self.disk_buffer is None else self.disk_buffer.dropped

    def _http_options(self) -> dict[str, Any]:
        return {"base_url": self.url, "headers": self.headers, "timeout": self.timeout}

    @staticmethod
    def _frame(
        rows: list[dict[str, Any]], spec: ColumnSpec, frame: FrameKind
    ) -> "pd.DataFrame | pl.DataFrame":
        columns, times = columns_of(rows, spec)
        if frame == "polars":
            return to_polars(columns, times)
        if frame == "pandas":
            return to_pandas(columns, times)
        raise ValueError(f"frame must be 'pandas' or 'polars', got {frame!r}")


def patterns_of(patterns: str | Sequence[str]) -> list[str]:
    return [patterns] if isinstance(patterns, str) else list(patterns)

"""Readings straight into the configured log through an ingestor in this process: `iotstream import`
without `--url`.

No HTTP and no JSON between the file and the ingestor, so a file goes in several times faster than
over the API, with the same checks: malformed, unknown (registered when `auto_register`) and
unstorable readings are refused with the reason. The platform need not run; the store takes the
readings when it next does. With the SQLite log, which processes share, they also arrive while it
runs. The store is not opened (DuckDB admits one process): what it would refuse as too old is judged
from the retention settings alone.
"""

import threading
from collections.abc import Callable, Sequence
from typing import Any

from iotstream.config import Settings
from iotstream.ingest.columns import Encoded
from iotstream.ingest.ingestor import Done, IngestBusyError, Ingestor, IngestResult
from iotstream.models import Observation
from iotstream.registry.access.quotas import DatastreamQuotas
from iotstream.registry.datastreams import DatastreamKeys
from iotstream.roles.parts import Parts
from iotstream.storage.base import valid_readings
from iotstream.storage.retention import RetentionPolicy

__all__ = ["BulkIngest", "BulkIngestError", "Taken"]

# Waits until the log has a submitted batch; returns its refused readings' (index, reason).
Taken = Callable[[], list[tuple[int, str]]]


class BulkIngestError(Exception):
    """The log did not take a batch."""


class BulkIngest:
    """`send` has the shape of `client.sending.Sender.send`, so the importer uses either; typed Parquet
    batches go through `submit_columns`."""

    def __init__(self, settings: Settings) -> None:
        self._parts = parts = Parts(settings)
        keys = DatastreamKeys(parts.catalog)
        keys.register(settings.ingest.datastreams)
        retention = RetentionPolicy(settings.storage.retention)

        def unstorable(readings: Sequence[Observation]) -> dict[int, str]:
            return {rejected.position: rejected.reason for rejected in valid_readings(retention, readings)[1]}

        self._ingestor = Ingestor(
            parts.log,
            settings.ingest,
            keys.known,
            keys.register,
            unstorable=unstorable,
            observed=parts.spans.observe,
            over_quota=DatastreamQuotas(parts.catalog, keys.keys),
        )

    def send(self, readings: list[dict[str, Any]]) -> list[tuple[int, str]]:
        """Take a batch; returns once the log has every accepted reading, with the refused ones'
        (index, reason)."""
        return self._submitted(lambda done: self._ingestor.submit_items(readings, done))()

    def submit_columns(self, datastreams: list[str], times: list[int], values: list[Any]) -> Taken:
        """`send` of readings as columns (a typed Parquet batch), several times faster, and without
        waiting for the log: the returned function does, so the next batch is encoded while the log
        writes this one (waiting after each batch cost about a third of an import's time)."""
        return self._submitted(lambda done: self._ingestor.submit_columns(datastreams, times, values, done))

    def submit_encoded(
        self, datastreams: list[str], times: list[int], values: list[Any], encoded: Encoded | None
    ) -> Taken:
        """`submit_columns` of columns another process encoded (`ingest.columns.encoded`)."""
        return self._submitted(
            lambda done: self._ingestor.submit_encoded(datastreams, times, values, encoded, done)
        )

    def _submitted(self, submit: Callable[[Done], IngestResult]) -> Taken:
        acknowledged, outcome = threading.Event(), []

        def done(error: Exception | None) -> None:
            outcome.append(error)
            acknowledged.set()

        while True:
            try:
                result = submit(done)
                break
            except IngestBusyError:  # readings of earlier batches still wait for the log
                self._ingestor.flush()
        rejected = [(rejected.position, rejected.error) for rejected in result.rejected]

        def taken() -> list[tuple[int, str]]:
            acknowledged.wait()
            if outcome[0] is not None:
                raise BulkIngestError(f"the log did not take the readings: {outcome[0]}")
            return rejected

        return taken

    def close(self) -> None:
        try:
            self._ingestor.flush()
            self._ingestor.close()
        finally:
            self._parts.close()

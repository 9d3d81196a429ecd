"""The one interface to the time-series store, whatever the database.

Writes are bulk and idempotent: a reading is stored once per (datastream, phenomenon time), a window
result once per (datastream, window, start), an alert once per (rule, datastream, start), and writing
the same batch again changes nothing. A bad row never fails the batch: `write_*` stores the good rows
and returns the bad ones with the reason. Readings can also be deleted one by one (SensorThings' DELETE
of an Observation); what derives from them follows. Times are UTC epoch milliseconds.
"""

import math
import sys
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Sequence
from types import TracebackType
from typing import Any, NamedTuple, Self, TypeVar

import pyarrow as pa

from iotstream.models import RETRACTED, Alert, Bucket, LateObservation, Observation, Series, WindowAggregate
from iotstream.storage import _arrow
from iotstream.storage.retention import TIERS, Deletion, RetentionPolicy, RetentionSettings
from iotstream.storage.rollups import (
    ROLLUPS,
    Dialect,
    affordable,
    choose_resolution,
    coarsen,
    time_ranges,
)

__all__ = [
    "BaseStorage",
    "BatchShape",
    "PreparedReadings",
    "Rejected",
    "check_alert",
    "check_observation",
    "group_buckets",
    "latest_episodes",
    "shape_of",
    "split_valid",
    "valid_readings",
]

T = TypeVar("T")

MAX_TIME_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z
ALERT_COLUMNS = (
    "rule, datastream, start_time, last_time, max, avg, threshold, state, closed_time, updated_time"
)
_TIER_TABLES = {"raw": ("observations", "phenomenon_time"), **{r.name: (r.table, "bucket") for r in ROLLUPS}}
_READING_COLUMNS = ("datastream", "phenomenon_time", "result_time", "value", "value_json", "id")
# Where to look for the newest reading left once the latest is deleted: the day before it, then its
# month, then everywhere. DuckDB has no index to find it with, but skips row groups outside the range.
_LOOKBACKS_MS = (86_400_000, 32 * 86_400_000, None)

_Run = Callable[[str, Sequence[Any]], list[tuple[Any, ...]]]  # one statement in the caller's transaction


class Rejected(NamedTuple):
    position: int  # in the batch
    reason: str


def check_observation(observation: Observation) -> str | None:
    """Why this reading cannot be stored, or None."""
    if not observation.datastream:
        return "empty datastream name"
    if not 0 <= observation.phenomenon_time_ms <= MAX_TIME_MS:
        return f"phenomenon_time_ms {observation.phenomenon_time_ms} is outside 1970..9999"
    if not 0 <= observation.result_time_ms <= MAX_TIME_MS:
        return f"result_time_ms {observation.result_time_ms} is outside 1970..9999"
    result = observation.result
    if isinstance(result, float) and not math.isfinite(result):
        return f"result {result} is not a finite number"
    if _bad_number(result):
        return "result is an integer too large to store as a number (over 1.8e308)"
    return None


class BatchShape(NamedTuple):
    """What the SQL would otherwise sort or scan the batch again to find out (one Python pass is cheaper)."""

    unique: bool  # no two readings share a (datastream, time): a plain insert needs no de-duplication
    newest: list[int]  # position of each datastream's newest reading (the last of equals): the latest values
    touched: list[tuple[str, int]]  # (datastream, minute) buckets written: the rollups to recompute
    times: dict[str, list[int]]  # each datastream's reading times: whether any may be stored already


class PreparedReadings(NamedTuple):
    size: int  # readings to store
    rejected: list[Rejected]
    shape: BatchShape
    ranges: list[tuple[int, int]]  # time ranges whose rollups to refresh
    table: pa.Table  # the readings as Arrow, with their batch position as `seq`


def shape_of(rows: Sequence[Observation]) -> BatchShape:
    times = _times_by_datastream(rows)
    width = ROLLUPS[0].width_ms
    touched = [(name, minute) for name, batch in times.items() for minute in {t - t % width for t in batch}]
    unique = all(len(set(batch)) == len(batch) for batch in times.values())
    return BatchShape(unique, _newest(rows, times), touched, times)


def _times_by_datastream(rows: Sequence[Observation]) -> dict[str, list[int]]:
    names = {o.datastream for o in rows}
    if len(names) == 1:  # the usual batch: one device's readings, no grouping needed
        return {names.pop(): [o.phenomenon_time_ms for o in rows]}
    times: dict[str, list[int]] = {name: [] for name in names}
    for o in rows:
        times[o.datastream].append(o.phenomenon_time_ms)
    return times


def _newest(rows: Sequence[Observation], times: dict[str, list[int]]) -> list[int]:
    """Position of each datastream's newest reading, the last of equals."""
    if len(times) == 1:
        (batch,) = times.values()
        return [len(batch) - 1 - batch[::-1].index(max(batch))]
    by_time = sorted(range(len(rows)), key=lambda position: rows[position].phenomenon_time_ms)  # stable
    newest = {rows[position].datastream: position for position in by_time}  # the last one wins
    return list(newest.values())


def _all_valid(rows: Sequence[Observation], horizons: dict[str, int | None]) -> bool:
    """A whole-batch check, several times faster than row by row; False sends the batch row by row."""
    if not rows:
        return True
    times = [o.phenomenon_time_ms for o in rows]
    result_times = [o.result_time_ms for o in rows]
    oldest_kept = max((h for h in horizons.values() if h is not None), default=0)
    return (
        all(horizons)  # no empty datastream name
        and min(times) >= max(oldest_kept, 0)
        and max(times) <= MAX_TIME_MS
        and min(result_times) >= 0
        and max(result_times) <= MAX_TIME_MS
        and not any(map(_bad_number, [o.result for o in rows]))
    )


def _bad_number(result: object) -> bool:
    if type(result) is float:
        return not math.isfinite(result)
    return type(result) is int and not -sys.float_info.max <= result <= sys.float_info.max


def check_alert(alert: Alert) -> str | None:
    """Why an alert cannot be stored, or None."""
    if not alert.datastream or not alert.rule:
        return "an alert needs a rule and a datastream"
    if alert.state not in ("open", "closed", RETRACTED):
        return f"alert state must be 'open', 'closed' or {RETRACTED!r}, got {alert.state!r}"
    times = (alert.start_ms, alert.last_ms, alert.closed_ms or 0, alert.updated_ms)
    if not all(0 <= t <= MAX_TIME_MS for t in times):
        return f"alert times {times} are outside 1970..9999"
    if not all(v is None or math.isfinite(v) for v in (alert.max, alert.avg, alert.threshold)):
        return "alert max, avg and threshold must be finite numbers"
    return None


def group_buckets(rows: list[tuple[Any, ...]]) -> dict[str, list[Bucket]]:
    """Rows of (datastream, start, count, sum, min, max, first, last), ordered, as one list per datastream."""
    series: dict[str, list[Bucket]] = {}
    for datastream, *bucket in rows:
        series.setdefault(datastream, []).append(Bucket(*bucket))
    return series


def valid_readings(
    retention: RetentionPolicy, rows: Sequence[Observation]
) -> tuple[list[Observation], list[Rejected]]:
    """The storable readings, and the refused ones: bad values, or older than the raw tier keeps.

    A function of the retention settings alone, so ingestion without a store (a bulk import into the
    log) refuses what the store would. The horizon is looked up once per datastream and batch: this
    runs for every reading stored.
    """
    horizons = {name: retention.horizon_ms(name) for name in {o.datastream for o in rows}}
    if _all_valid(rows, horizons):
        return list(rows), []

    def check(observation: Observation) -> str | None:
        reason = check_observation(observation)
        horizon = horizons[observation.datastream]
        if reason is None and horizon is not None and observation.phenomenon_time_ms < horizon:
            reason = retention.check(observation.datastream, observation.phenomenon_time_ms)
        return reason

    return split_valid(rows, check)


def latest_episodes(alerts: Sequence[Alert]) -> tuple[list[Alert], list[Alert]]:
    """The last state of each (rule, datastream, start) in a batch, split into the episodes to keep
    and those to delete: a recomputation retracts an episode that the readings, with the history
    loaded after it, no longer give (e.g. one that turned out to start earlier)."""
    latest = {(a.rule, a.datastream, a.start_ms): a for a in alerts}
    kept = [a for a in latest.values() if a.state != RETRACTED]
    return kept, [a for a in latest.values() if a.state == RETRACTED]


def split_valid(rows: Sequence[T], check: Callable[[T], str | None]) -> tuple[list[T], list[Rejected]]:
    """The rows `check` accepts, and the others with their position and reason."""
    good: list[T] = []
    rejected: list[Rejected] = []
    for position, row in enumerate(rows):
        reason = check(row)
        if reason is None:
            good.append(row)
        else:
            rejected.append(Rejected(position, reason))
    return good, rejected


class BaseStorage(ABC):
    dialect: Dialect  # the backend's SQL differences, for the queries written once here

    def __init__(self, retention: RetentionPolicy | None) -> None:
        self.retention = retention or RetentionPolicy(RetentionSettings())

    def valid_readings(self, rows: Sequence[Observation]) -> tuple[list[Observation], list[Rejected]]:
        """The storable readings, and the refused ones: bad values, or older than the raw tier keeps."""
        return valid_readings(self.retention, rows)

    def write_observations(self, rows: Sequence[Observation]) -> list[Rejected]:
        """Upsert readings by (datastream, phenomenon time); return the rows refused and why."""
        return self.write_prepared(self.prepare_readings(rows))

    def prepare_readings(self, rows: Sequence[Observation]) -> "PreparedReadings":
        """The Python half of a write: validate, shape, convert to Arrow. Separate from the database
        half (`write_prepared`) so the sink can prepare the next batch while the last one is written."""
        good, rejected = self.valid_readings(rows)
        shape = shape_of(good)
        ranges = time_ranges(minute for _, minute in shape.touched)
        return PreparedReadings(len(good), rejected, shape, ranges, _arrow.readings(good))

    @abstractmethod
    def write_prepared(self, prepared: "PreparedReadings") -> list[Rejected]:
        """Store readings `prepare_readings` made ready; returns its refused rows."""

    def delete_observations(self, datastream: str, times_ms: Sequence[int]) -> int:
        """Delete the readings of `datastream` measured at `times_ms` (SensorThings' DELETE of an
        Observation), keeping everything derived from them exact.

        The 1m/1h/1d buckets the readings were in are recomputed from the readings left (a bucket left
        empty disappears), and the datastream's latest value becomes its newest reading left, or goes
        when none is left. A time without a reading is skipped and its buckets are left alone: where
        retention deleted the raw readings, the rollups are all that is left of them.

        Args:
            datastream: the readings' datastream.
            times_ms: their phenomenon times, UTC epoch milliseconds, in any order.

        Returns:
            How many readings were deleted.

        Example:
            >>> import tempfile, time
            >>> from iotstream.storage import open_storage
            >>> store = open_storage(f"duckdb:///{tempfile.mkdtemp()}/store.duckdb")
            >>> now_ms = int(time.time() * 1000)
            >>> _ = store.write_observations([Observation("s", now_ms, 1.0, now_ms, "s-1")])
            >>> store.delete_observations("s", [now_ms, now_ms + 1]), store.latest()
            (1, {})
            >>> store.close()
        """
        times = sorted({t for t in times_ms if 0 <= t <= MAX_TIME_MS})
        return self._delete_observations(datastream, times) if datastream and times else 0

    @abstractmethod
    def _delete_observations(self, datastream: str, times_ms: list[int]) -> int:
        """Delete the readings at these times (sorted, distinct, storable); returns how many there were."""

    def _replace_deleted_latest(self, run: _Run, datastream: str, deleted_ms: Collection[int]) -> None:
        """Make the newest reading left the latest value when the latest was deleted (none left: drop
        it), in the deleting transaction (`run`). The latest stays when it is newer than what was
        deleted: even where another writer changed it meanwhile, only a deleted latest is replaced."""
        p = self.dialect.param  # the only text put into these statements
        row = run(f"SELECT phenomenon_time FROM latest WHERE datastream = {p}", [datastream])  # noqa: S608
        if not row or row[0][0] not in deleted_ms:
            return
        deleted = row[0][0]
        newest_since = f"SELECT max(phenomenon_time) FROM observations WHERE datastream = {p}"  # noqa: S608
        newest_since += f" AND phenomenon_time >= {p}"
        for lookback_ms in _LOOKBACKS_MS:
            low = 0 if lookback_ms is None else deleted - lookback_ms
            (newest,) = run(newest_since, [datastream, low])[0]
            if newest is not None:
                run(self._replace_latest_sql(), [datastream, newest, deleted])
                return
        drop = f"DELETE FROM latest WHERE datastream = {p} AND phenomenon_time = {p}"  # noqa: S608
        run(drop, [datastream, deleted])

    def _replace_latest_sql(self) -> str:
        """The reading at a time becomes the latest value, if the latest is still the one deleted."""
        p, columns = self.dialect.param, ", ".join(_READING_COLUMNS)
        updates = ", ".join(f"{c} = excluded.{c}" for c in _READING_COLUMNS[1:])
        return (
            f"INSERT INTO latest ({columns}) SELECT {columns} FROM observations"  # noqa: S608
            f" WHERE datastream = {p} AND phenomenon_time = {p} LIMIT 1"
            f" ON CONFLICT (datastream) DO UPDATE SET {updates} WHERE latest.phenomenon_time = {p}"
        )

    @abstractmethod
    def write_aggregates(self, rows: Sequence[WindowAggregate]) -> list[Rejected]:
        """Upsert window results by (datastream, window, start): a correction replaces the result."""

    @abstractmethod
    def write_late(self, rows: Sequence[LateObservation]) -> list[Rejected]:
        """Keep readings that came after their windows were final."""

    @abstractmethod
    def write_alerts(self, rows: Sequence[Alert]) -> list[Rejected]:
        """Upsert alert episodes by (rule, datastream, start): the newest state replaces the older."""

    @abstractmethod
    def raw(
        self, datastream: str, start_ms: int, end_ms: int, *, limit: int = 10_000, after_ms: int | None = None
    ) -> list[Observation]:
        """Readings in [start, end), oldest first; pass the last time seen as `after_ms` for the next page."""

    def buckets(
        self, resolution: str, start_ms: int, end_ms: int, datastreams: Sequence[str] | None = None
    ) -> dict[str, list[Bucket]]:
        """Rollup buckets ("1m", "1h", "1d") starting in [start, end) per datastream, oldest first."""
        self.catch_up()
        table, p = self.rollup_table(resolution), self.dialect.param
        sql = f"SELECT datastream, bucket, count, sum, min, max, first, last FROM {table}"  # noqa: S608
        sql += f" WHERE bucket >= {p} AND bucket < {p}"
        params: list[Any] = [start_ms, end_ms]
        if datastreams is not None:
            sql, params = f"{sql} AND {self.dialect.one_of}", [*params, list(datastreams)]
        return group_buckets(self._query(f"{sql} ORDER BY datastream, bucket", params))

    def recent_averages(self, resolution: str, span_ms: int) -> dict[str, list[tuple[int, float]]]:
        """(bucket start, average) of each datastream's buckets in the `span` up to its own latest reading:
        an overview's sparklines, where a datastream that went quiet still shows its last day."""
        self.catch_up()
        table, p = self.rollup_table(resolution), self.dialect.param
        sql = (
            "SELECT r.datastream, r.bucket, r.sum / r.count"  # noqa: S608
            f" FROM {table} r JOIN latest l ON l.datastream = r.datastream"
            f" WHERE r.bucket > l.phenomenon_time - {p} AND r.count > 0 ORDER BY r.datastream, r.bucket"
        )
        series: dict[str, list[tuple[int, float]]] = {}
        for datastream, start, average in self._query(sql, [span_ms]):
            series.setdefault(datastream, []).append((start, average))
        return series

    def windowed(self) -> list[tuple[str, str]]:
        """Every (datastream, window) with stored window results: what a chart tool can offer."""
        rows = self._query("SELECT DISTINCT datastream, window_name FROM aggregates ORDER BY 1, 2", [])
        return [(datastream, window) for datastream, window in rows]

    def series(
        self, datastream: str, start_ms: int, end_ms: int, points: int = 500, at_most: int | None = None
    ) -> Series:
        """The range at the coarsest resolution that still gives `points` values (for charts), merged
        further into at most `at_most` equal steps when given (a Grafana panel's maxDataPoints) — reading
        no more than ten times `at_most` buckets when a coarser tier can answer.

        Rollups are preferred because a chart can draw only so many points; raw readings are read only
        when no rollup is fine enough, or when the rollups that are have been deleted for this range.
        """
        horizons = {tier: self.retention.horizon_ms(datastream, tier) for tier in TIERS}
        resolution = choose_resolution(start_ms, end_ms, points, horizons)
        if at_most is not None:
            resolution = affordable(resolution, start_ms, end_ms, 10 * at_most, horizons)
        if resolution != "raw":
            buckets = self.buckets(resolution, start_ms, end_ms, [datastream]).get(datastream, [])
        else:
            readings = self.raw(datastream, start_ms, end_ms, limit=max(points, 1) * 100)
            numeric = [
                (o.phenomenon_time_ms, float(o.result)) for o in readings if type(o.result) in (int, float)
            ]
            buckets = [Bucket(t, 1, v, v, v, v, v) for t, v in numeric]
        if at_most is not None:
            width = next((r.width_ms for r in ROLLUPS if r.name == resolution), 1)
            buckets = coarsen(buckets, start_ms, end_ms, at_most, width)
        return Series(datastream, resolution, buckets)

    @staticmethod
    def rollup_table(resolution: str) -> str:
        for rollup in ROLLUPS:
            if rollup.name == resolution:
                return rollup.table
        raise ValueError(f"unknown resolution {resolution!r}; use one of {[r.name for r in ROLLUPS]}")

    def memory_bytes(self) -> int | None:
        """The memory the store holds in this process (an embedded database's buffers), for the stats;
        None where the database runs elsewhere."""
        return None

    def eviction_queue_entries(self) -> int | None:
        """Entries in an embedded database's eviction queues, stale ones included, for the stats: memory
        the store keeps outside `memory_bytes`; None where the database runs elsewhere."""
        return None

    def catch_up(self) -> None:  # noqa: B027 - most stores have nothing to catch up
        """Make rollups and latest values reflect every write so far (DuckDB maintains them a little
        behind the writes; every query that reads them calls this first)."""

    @abstractmethod
    def aggregates(self, datastream: str, window: str, start_ms: int, end_ms: int) -> list[WindowAggregate]:
        """Window results whose start lies in [start, end), oldest first."""

    @abstractmethod
    def latest(self, datastreams: Sequence[str] | None = None) -> dict[str, Observation]:
        """The newest reading (by phenomenon time) of each datastream, or of the ones asked for."""

    @abstractmethod
    def late(self, datastream: str, start_ms: int, end_ms: int) -> list[LateObservation]:
        """Late readings measured in [start, end)."""

    def alerts(
        self,
        datastream: str | None = None,
        state: str | None = None,
        start_ms: int = 0,
        end_ms: int | None = None,
    ) -> list[Alert]:
        """Alert episodes started in [start, end), oldest first; optionally of one datastream or state."""
        p = self.dialect.param
        sql = f"SELECT {ALERT_COLUMNS} FROM alerts WHERE start_time >= {p} AND start_time < {p}"  # noqa: S608
        params: list[Any] = [start_ms, MAX_TIME_MS + 1 if end_ms is None else end_ms]
        for column, value in (("datastream", datastream), ("state", state)):
            if value is not None:
                sql += f" AND {column} = {p}"
                params.append(value)
        return [Alert(*row) for row in self._query(f"{sql} ORDER BY start_time, datastream, rule", params)]

    def retention_deletes(self, datastreams: Sequence[str]) -> list[tuple[str, str, list[Any]]]:
        """(tier, DELETE statement, parameters) for what the tiers no longer keep of `datastreams`."""
        return [
            (tier, *self._delete_older(tier, deletion))
            for tier in TIERS
            for deletion in self.retention.deletions(tier, datastreams)
        ]

    def _delete_older(self, tier: str, deletion: Deletion) -> tuple[str, list[Any]]:
        table, time_column = _TIER_TABLES[tier]
        sql = f"DELETE FROM {table} WHERE {time_column} < {self.dialect.param}"  # noqa: S608
        params: list[Any] = [deletion.cutoff_ms]
        if deletion.names is not None:
            sql, params = f"{sql} AND {self.dialect.one_of}", [*params, deletion.names]
        if deletion.except_names:
            sql, params = f"{sql} AND NOT {self.dialect.one_of}", [*params, deletion.except_names]
        return sql, params

    @abstractmethod
    def _query(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        """Rows of one read-only statement."""

    def rebuild_rollups(self, start_ms: int, end_ms: int) -> None:
        """Recompute every rollup over [start, end) from the raw readings, e.g. after a bulk load.

        The range is cut to where every datastream still has its raw readings: rebuilding from
        readings retention has deleted would wipe the rollups that are all that is left of them.
        """
        horizon = self.retention.newest_horizon_ms("raw", self.latest())
        start_ms = max(start_ms, horizon or 0)
        if start_ms < end_ms:
            self._rebuild_rollups(start_ms, end_ms)

    @abstractmethod
    def _rebuild_rollups(self, start_ms: int, end_ms: int) -> None: ...

    @abstractmethod
    def apply_retention(self) -> dict[str, int]:
        """Delete what the retention tiers no longer keep; returns rows deleted per tier."""

    def ping(self) -> None:
        """Raises StorageError when the database does not answer (readiness checks)."""
        self._query("SELECT 1", [])

    @abstractmethod
    def close(self) -> None:
        """Release connections."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

"""Rollups per datastream at 1 minute, 1 hour and 1 day, kept current as data arrives; the SQL both
databases run.

After each batch of readings, every bucket the batch touched is recomputed: minutes from the raw
readings, hours from the minutes, days from the hours. Recomputing instead of adding keeps rollups
exact when a reading is replayed or corrected, and costs a few dozen rows per touched bucket.
Only numeric readings roll up. The time bounds are inlined integers so both databases can prune
(DuckDB zone maps, PostgreSQL partitions) before joining.
"""

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["COLUMNS", "ROLLUPS", "Dialect", "Rollup", "choose_resolution", "refresh", "time_ranges"]

COLUMNS = "datastream, bucket, count, sum, min, max, first, last, first_time, last_time"
_GAP_MS = 3_600_000  # readings further apart than this are refreshed as separate time ranges


@dataclass(frozen=True)
class Rollup:
    name: str
    width_ms: int

    @property
    def table(self) -> str:
        return f"rollup_{self.name}"


ROLLUPS = (Rollup("1m", 60_000), Rollup("1h", 3_600_000), Rollup("1d", 86_400_000))


@dataclass(frozen=True)
class Dialect:
    """What differs between the databases: how to take the value at the earliest and latest time."""

    first: str  # with {value} and {time}
    last: str


DUCKDB = Dialect(first="arg_min({value}, {time})", last="arg_max({value}, {time})")
POSTGRES = Dialect(
    first="(array_agg({value} ORDER BY {time}))[1]", last="(array_agg({value} ORDER BY {time} DESC))[1]"
)


def time_ranges(times_ms: Iterable[int]) -> list[tuple[int, int]]:
    """[low, high) ranges covering the times, split where readings are far apart (late data in a batch)."""
    ranges: list[tuple[int, int]] = []
    for time_ms in sorted(set(times_ms)):
        if ranges and time_ms - ranges[-1][1] < _GAP_MS:
            ranges[-1] = (ranges[-1][0], time_ms + 1)
        else:
            ranges.append((time_ms, time_ms + 1))
    return ranges


def refresh(dialect: Dialect, batch: str, low_ms: int, high_ms: int) -> list[str]:
    """Statements that recompute, tier by tier, every bucket the readings of `batch` in [low, high) touch."""
    statements = []
    source, time_column = "observations", "phenomenon_time"
    for rollup in ROLLUPS:
        width = rollup.width_ms
        low, high = low_ms - low_ms % width, -(-high_ms // width) * width
        touched = (
            f"(SELECT DISTINCT datastream, phenomenon_time - phenomenon_time % {width} AS bucket"  # noqa: S608
            f" FROM {batch} WHERE phenomenon_time >= {low_ms} AND phenomenon_time < {high_ms}) t"
        )
        statements.append(
            f"DELETE FROM {rollup.table} r USING {touched} WHERE r.datastream = t.datastream"  # noqa: S608
            f" AND r.bucket = t.bucket AND r.bucket >= {low} AND r.bucket < {high}"
        )
        statements.append(
            f"INSERT INTO {rollup.table} ({COLUMNS})"  # noqa: S608
            f" SELECT t.datastream, t.bucket, {_aggregates(dialect, source)}"
            f" FROM {source} s JOIN {touched} ON s.datastream = t.datastream AND s.{time_column} >= t.bucket"
            f" AND s.{time_column} < t.bucket + {width}"
            f" WHERE s.{time_column} >= {low} AND s.{time_column} < {high}"
            + (" AND s.value IS NOT NULL" if source == "observations" else "")
            + " GROUP BY t.datastream, t.bucket"
        )
        source, time_column = rollup.table, "bucket"
    return statements


def _aggregates(dialect: Dialect, source: str) -> str:
    if source == "observations":
        first = dialect.first.format(value="s.value", time="s.phenomenon_time")
        last = dialect.last.format(value="s.value", time="s.phenomenon_time")
        return (
            f"count(*), sum(s.value), min(s.value), max(s.value), {first}, {last},"
            " min(s.phenomenon_time), max(s.phenomenon_time)"
        )
    first = dialect.first.format(value="s.first", time="s.first_time")
    last = dialect.last.format(value="s.last", time="s.last_time")
    return (
        f"CAST(sum(s.count) AS BIGINT), sum(s.sum), min(s.min), max(s.max), {first}, {last},"
        " min(s.first_time), max(s.last_time)"
    )


def choose_resolution(start_ms: int, end_ms: int, points: int, horizons: dict[str, int | None]) -> str:
    """The coarsest tier giving at least `points` buckets over [start, end) among the tiers that still
    hold `start` (`horizons`: the oldest time each tier holds, None = forever); else the finest such."""
    span = max(end_ms - start_ms, 1)
    holding = [r for r in reversed(ROLLUPS) if (horizons.get(r.name) or 0) <= start_ms]
    for rollup in holding:
        if span // rollup.width_ms >= points:
            return rollup.name
    raw_horizon = horizons.get("raw")
    if raw_horizon is None or raw_horizon <= start_ms or not holding:
        return "raw"
    return holding[-1].name

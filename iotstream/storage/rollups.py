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

from iotstream.models import Bucket

__all__ = [
    "COLUMNS",
    "DUCKDB",
    "MERGE_MINUTES",
    "POSTGRES",
    "ROLLUPS",
    "Dialect",
    "Rollup",
    "choose_resolution",
    "rebuild",
    "refresh",
    "time_ranges",
    "touched_minutes",
]

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
    """What differs between the databases: first/last functions, types, placeholders, join strategy."""

    first: str  # with {value} and {time}
    last: str
    text: str  # the type of datastream names
    param: str  # the query parameter placeholder
    one_of: str  # "datastream is in the list given as a parameter"
    lateral: bool  # recompute bucket by bucket through the index (PostgreSQL) or by one range scan (DuckDB)


DUCKDB = Dialect(
    first="arg_min({value}, {time})",
    last="arg_max({value}, {time})",
    text="VARCHAR",
    param="?",
    one_of="list_contains(?, datastream)",
    lateral=False,
)
POSTGRES = Dialect(
    first="(array_agg({value} ORDER BY {time}))[1]",
    last="(array_agg({value} ORDER BY {time} DESC))[1]",
    text='text COLLATE "C"',
    param="%s",
    one_of="datastream = ANY(%s)",
    lateral=True,
)


def time_ranges(minutes: Iterable[int]) -> list[tuple[int, int]]:
    """[low, high) ranges covering the minute buckets, split where far apart (late data in a batch)."""
    width = ROLLUPS[0].width_ms
    ranges: list[tuple[int, int]] = []
    for minute in sorted(set(minutes)):
        if ranges and minute - ranges[-1][1] < _GAP_MS:
            ranges[-1] = (ranges[-1][0], minute + width)
        else:
            ranges.append((minute, minute + width))
    return ranges


def touched_minutes(rows: Iterable[tuple[str, int]]) -> list[tuple[str, int]]:
    """The distinct (datastream, minute) buckets of (datastream, time) pairs: what `touched` must hold."""
    width = ROLLUPS[0].width_ms
    return list({(datastream, time_ms - time_ms % width) for datastream, time_ms in rows})


def refresh(dialect: Dialect, low_ms: int, high_ms: int, *, minutes: bool = True) -> list[str]:
    """Statements that recompute, tier by tier, the buckets in [low, high) listed in the `touched` table.

    The caller fills `touched` with the minutes a batch wrote (`touched_minutes`); hours and days are
    derived from those few rows. `minutes=False` leaves the minutes to the caller (`MERGE_MINUTES`).
    """
    statements = []
    source, time_column = "observations", "phenomenon_time"
    for rollup in ROLLUPS:
        if rollup is ROLLUPS[0] and not minutes:
            source, time_column = rollup.table, "bucket"
            continue
        width = rollup.width_ms
        low, high = low_ms - low_ms % width, -(-high_ms // width) * width
        touched = (
            f"(SELECT DISTINCT datastream, bucket - bucket % {width} AS bucket FROM touched"  # noqa: S608
            f" WHERE bucket >= {low} AND bucket < {high}) t"
        )
        numeric = " AND s.value IS NOT NULL" if source == "observations" else ""
        statements.append(
            f"DELETE FROM {rollup.table} r USING {touched} WHERE r.datastream = t.datastream"  # noqa: S608
            f" AND r.bucket = t.bucket AND r.bucket >= {low} AND r.bucket < {high}"
        )
        if dialect.lateral:  # one index range scan per touched bucket, however big the table
            in_bucket = (
                f"s.datastream = t.datastream AND s.{time_column} >= t.bucket"
                f" AND s.{time_column} < t.bucket + {width}"
            )
            rows = (
                f" SELECT t.datastream, t.bucket, a.* FROM {touched} CROSS JOIN LATERAL"  # noqa: S608
                f" (SELECT {_aggregates(dialect, source)} FROM {source} s WHERE {in_bucket}{numeric}) a"
                " WHERE a.count > 0"
            )
        else:  # no index: scan the time range once (zone maps skip the rest) and join on equal keys,
            # a hash join (times are never negative, so `%` floors): a range join took 40 times as long
            bucket = f"s.{time_column} - s.{time_column} % {width}"
            in_bucket = f"s.datastream = t.datastream AND {bucket} = t.bucket"
            rows = (
                f" SELECT t.datastream, t.bucket, {_aggregates(dialect, source)} FROM {source} s"  # noqa: S608
                f" JOIN {touched} ON {in_bucket}"
                f" WHERE s.{time_column} >= {low} AND s.{time_column} < {high}{numeric}"
                " GROUP BY t.datastream, t.bucket"
            )
        statements.append(f"INSERT INTO {rollup.table} ({COLUMNS}){rows}")
        source, time_column = rollup.table, "bucket"
    return statements


# Adds a batch's own minute rollups (staged in `stage_minutes`) to the stored ones. Exact only when
# every reading of the batch is new, which the PostgreSQL fast path knows; otherwise buckets are
# recomputed with `refresh`.
MERGE_MINUTES = (
    f"INSERT INTO rollup_1m AS r ({COLUMNS}) SELECT {COLUMNS} FROM stage_minutes"  # noqa: S608
    " ON CONFLICT (datastream, bucket) DO UPDATE SET count = r.count + excluded.count,"
    " sum = r.sum + excluded.sum, min = least(r.min, excluded.min), max = greatest(r.max, excluded.max),"
    " first = CASE WHEN excluded.first_time < r.first_time THEN excluded.first ELSE r.first END,"
    " last = CASE WHEN excluded.last_time > r.last_time THEN excluded.last ELSE r.last END,"
    " first_time = least(r.first_time, excluded.first_time),"
    " last_time = greatest(r.last_time, excluded.last_time)"
)


def rebuild(dialect: Dialect, low_ms: int, high_ms: int) -> list[str]:
    """Statements that recompute every bucket in [low, high) from scratch, e.g. after a bulk import."""
    statements = []
    source, time_column = "observations", "phenomenon_time"
    for rollup in ROLLUPS:
        width = rollup.width_ms
        low, high = low_ms - low_ms % width, -(-high_ms // width) * width
        statements.append(f"DELETE FROM {rollup.table} WHERE bucket >= {low} AND bucket < {high}")  # noqa: S608
        statements.append(
            f"INSERT INTO {rollup.table} ({COLUMNS})"  # noqa: S608
            f" SELECT s.datastream, s.{time_column} - s.{time_column} % {width},"
            f" {_aggregates(dialect, source)}"
            f" FROM {source} s WHERE s.{time_column} >= {low} AND s.{time_column} < {high}"
            + (" AND s.value IS NOT NULL" if source == "observations" else "")
            + " GROUP BY 1, 2 ORDER BY 2"  # time-clustered, as rollups made while data arrives are,
        )  # so that a range query skips every other row group by its min/max
        source, time_column = rollup.table, "bucket"
    return statements


def _aggregates(dialect: Dialect, source: str) -> str:
    if source == "observations":
        first = dialect.first.format(value="s.value", time="s.phenomenon_time")
        last = dialect.last.format(value="s.value", time="s.phenomenon_time")
        return (
            f"count(*) AS count, sum(s.value) AS sum, min(s.value) AS min, max(s.value) AS max,"
            f" {first} AS first, {last} AS last, min(s.phenomenon_time) AS first_time,"
            " max(s.phenomenon_time) AS last_time"
        )
    first = dialect.first.format(value="s.first", time="s.first_time")
    last = dialect.last.format(value="s.last", time="s.last_time")
    return (
        f"CAST(coalesce(sum(s.count), 0) AS BIGINT) AS count, sum(s.sum) AS sum, min(s.min) AS min,"
        f" max(s.max) AS max, {first} AS first, {last} AS last, min(s.first_time) AS first_time,"
        " max(s.last_time) AS last_time"
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


def coarsen(
    buckets: list[Bucket], start_ms: int, end_ms: int, at_most: int, width_ms: int = 1
) -> list[Bucket]:
    """Merge neighbouring buckets into at most `at_most` equal steps of [start, end), each a whole number
    of `width_ms` so that every rollup bucket falls in one step; sums, extremes, first and last stay exact."""
    if len(buckets) <= at_most:
        return buckets
    step = -(-max(end_ms - start_ms, 1) // at_most)
    step = -(-step // width_ms) * width_ms
    merged: list[Bucket] = []
    for bucket in buckets:
        slot = start_ms + (bucket.start_ms - start_ms) // step * step
        if merged and merged[-1].start_ms == slot:
            last = merged[-1]
            merged[-1] = Bucket(
                slot,
                last.count + bucket.count,
                last.sum + bucket.sum,
                min(last.min, bucket.min),
                max(last.max, bucket.max),
                last.first,
                bucket.last,
            )
        else:
            merged.append(
                Bucket(slot, bucket.count, bucket.sum, bucket.min, bucket.max, bucket.first, bucket.last)
            )
    return merged


def affordable(
    resolution: str, start_ms: int, end_ms: int, max_buckets: int, horizons: dict[str, int | None]
) -> str:
    """`resolution`, or a coarser tier that still holds `start` when it would read more than `max_buckets`
    buckets: a month of minutes merged into a thousand chart points costs fifteen times a month of hours."""
    names = [rollup.name for rollup in ROLLUPS]
    if resolution not in names:
        return resolution  # raw readings are chosen only for ranges too short for any rollup
    tier = names.index(resolution)
    while (
        tier + 1 < len(ROLLUPS)
        and (end_ms - start_ms) // ROLLUPS[tier].width_ms > max_buckets
        and (horizons.get(ROLLUPS[tier + 1].name) or 0) <= start_ms
    ):
        tier += 1
    return ROLLUPS[tier].name

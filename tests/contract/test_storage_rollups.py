"""Contract: rollups, downsampled series, retention tiers and alerts behave the same on every backend."""

import random
from collections.abc import Callable

import pytest

from iotstream.exceptions import ConfigError
from iotstream.models import Alert, Bucket, Observation, WindowAggregate
from iotstream.storage import BaseStorage, open_storage
from iotstream.testing import FakeClock
from tests.contract.storage_reference import assert_buckets_match as _close
from tests.contract.storage_reference import expected_buckets as _expected

MINUTE, HOUR, DAY = 60_000, 3_600_000, 86_400_000
WIDTHS = {"1m": MINUTE, "1h": HOUR, "1d": DAY}


def _obs(datastream: str, time_ms: int, result: object) -> Observation:
    return Observation(datastream, time_ms, result, time_ms, f"{datastream}@{time_ms}")


def test_rollups_match_the_readings_after_out_of_order_batches_replays_and_corrections(
    storage: BaseStorage,
) -> None:
    rng = random.Random(7)
    readings: dict[tuple[str, int], object] = {}
    batches = []
    for _ in range(12):
        batch = []
        for _ in range(150):
            key = (rng.choice(["a", "b", "c"]), rng.randrange(0, 3 * DAY, 7_000))
            value: object = round(rng.uniform(-50, 50), 3) if rng.random() > 0.05 else "offline"
            readings[key] = value  # the last write of a time wins, as in the store
            batch.append(_obs(*key, value))
        batches.append(batch)
    for batch in batches:
        storage.write_observations(batch)
    storage.write_observations(batches[3])  # a replay of an earlier batch ...
    for o in batches[3]:  # ... whose rows are now the last written
        readings[(o.datastream, o.phenomenon_time_ms)] = o.result
    for name, width in WIDTHS.items():
        _close(storage.buckets(name, 0, 3 * DAY), _expected(readings, width))


def test_a_corrected_reading_changes_every_rollup_that_contains_it(storage: BaseStorage) -> None:
    storage.write_observations([_obs("t", 1_000, 10.0), _obs("t", 2_000, 20.0), _obs("t", HOUR + 5, 1.0)])
    storage.write_observations([_obs("t", 2_000, -4.0)])
    assert storage.buckets("1m", 0, DAY)["t"][0] == Bucket(0, 2, 6.0, -4.0, 10.0, 10.0, -4.0)
    assert storage.buckets("1h", 0, DAY)["t"] == [
        Bucket(0, 2, 6.0, -4.0, 10.0, 10.0, -4.0),
        Bucket(HOUR, 1, 1.0, 1.0, 1.0, 1.0, 1.0),
    ]
    assert storage.buckets("1d", 0, DAY)["t"] == [Bucket(0, 3, 7.0, -4.0, 10.0, 10.0, 1.0)]
    storage.write_observations([_obs("t", HOUR + 5, "broken")])  # no longer numeric: the bucket empties
    assert [b.start_ms for b in storage.buckets("1h", 0, DAY)["t"]] == [0]
    assert storage.buckets("1d", 0, DAY, ["t", "other"]) == {"t": [Bucket(0, 2, 6.0, -4.0, 10.0, 10.0, -4.0)]}


def test_a_series_uses_the_coarsest_rollup_that_still_gives_the_points_asked_for(
    storage: BaseStorage,
) -> None:
    storage.write_observations([_obs("s", t, float(t // MINUTE)) for t in range(0, 30 * DAY, 10 * MINUTE)])
    month, day = storage.series("s", 0, 30 * DAY, points=20), storage.series("s", 0, 30 * DAY, points=500)
    assert (month.resolution, len(month.buckets)) == ("1d", 30)
    assert (day.resolution, len(day.buckets)) == ("1h", 720)
    assert day.buckets[1] == Bucket(HOUR, 6, sum(range(60, 120, 10)), 60.0, 110.0, 60.0, 110.0)
    assert day.buckets[1].avg == 85.0
    minutes = storage.series("s", DAY, 2 * DAY, points=1_000)
    assert (minutes.resolution, len(minutes.buckets)) == ("1m", 144)  # one reading every 10 minutes
    raw = storage.series("s", DAY, DAY + 30 * MINUTE, points=100)
    assert raw.resolution == "raw"
    assert [(b.start_ms, b.count, b.last) for b in raw.buckets] == [
        (DAY + m * MINUTE, 1, 1440.0 + m) for m in (0, 10, 20)
    ]


def test_every_datastream_daily_in_one_query(storage: BaseStorage) -> None:
    storage.write_observations([_obs(f"s{i}", d * DAY + i, float(i + d)) for i in range(5) for d in range(3)])
    daily = storage.buckets("1d", 0, 3 * DAY)
    assert sorted(daily) == [f"s{i}" for i in range(5)]
    assert [b.sum for b in daily["s4"]] == [4.0, 5.0, 6.0]


def test_recent_averages_end_at_each_datastreams_own_latest_reading(storage: BaseStorage) -> None:
    # "busy" reports until day 10, "quiet" stopped on day 2: each gets its own last day, not the same range
    storage.write_observations(
        [_obs("busy", d * DAY + h * HOUR, float(h)) for d in range(10) for h in range(24)]
    )
    storage.write_observations(
        [_obs("quiet", d * DAY + h * HOUR, float(d)) for d in range(2) for h in range(24)]
    )
    recent = storage.recent_averages("1h", DAY)
    assert recent["busy"] == [(9 * DAY + h * HOUR, float(h)) for h in range(24)]
    assert recent["quiet"] == [(DAY + h * HOUR, 1.0) for h in range(24)]


def test_the_windows_with_results_are_listed_once_each(storage: BaseStorage) -> None:
    def window(datastream: str, name: str, start_ms: int) -> WindowAggregate:
        return WindowAggregate(datastream, name, start_ms, start_ms + DAY, 1, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0)

    assert storage.windowed() == []
    storage.write_aggregates([window("m", "1d", 0), window("m", "1d", DAY), window("a", "1h", 0)])
    assert storage.windowed() == [("a", "1h"), ("m", "1d")]


def test_an_alert_episode_is_stored_once_in_its_latest_state(storage: BaseStorage) -> None:
    opened = Alert("hot", "boiler", 1_000, 1_000, 101.0, 101.0, 100.0, "open", None, 5)
    updated = Alert("hot", "boiler", 1_000, 9_000, 105.0, 103.0, 100.0, "open", None, 6)
    closed = Alert("hot", "boiler", 1_000, 9_000, 105.0, 103.0, 100.0, "closed", 12_000, 7)
    other = Alert("hot", "s1", 2_000, 2_000, 100.5, 100.5, 100.0, "open", None, 8)
    storage.write_alerts([opened, updated, other])
    storage.write_alerts([closed])
    storage.write_alerts([closed])
    assert storage.alerts() == [closed, other]
    assert storage.alerts("boiler") == [closed]
    assert storage.alerts(state="open") == [other]
    assert storage.alerts(start_ms=1_500, end_ms=3_000) == [other]
    assert closed.duration_s == 8.0
    bad = storage.write_alerts(
        [
            Alert("hot", "s1", 1, 1, float("nan"), 1.0, 1.0, "open"),
            Alert("hot", "s1", 1, 1, 1.0, 1.0, 1.0, "on"),
        ]
    )
    assert [r.reason for r in bad] == [
        "alert max, avg and threshold must be finite numbers",
        "alert state must be 'open', 'closed' or 'retracted', got 'on'",
    ]


def test_a_retracted_episode_is_deleted_and_the_last_state_in_a_batch_wins(storage: BaseStorage) -> None:
    def episode(datastream: str, start_ms: int, state: str, updated_ms: int) -> Alert:
        return Alert(
            "hot", datastream, start_ms, start_ms + 500, 105.0, 103.0, 100.0, state, None, updated_ms
        )

    storage.write_alerts(
        [episode("a", 1_000, "open", 1), episode("a", 5_000, "open", 1), episode("b", 1_000, "open", 1)]
    )
    storage.write_alerts([episode("a", 1_000, "retracted", 2), episode("c", 9_000, "retracted", 2)])
    assert [(a.datastream, a.start_ms) for a in storage.alerts()] == [("b", 1_000), ("a", 5_000)]
    storage.write_alerts([episode("a", 5_000, "closed", 3), episode("a", 5_000, "retracted", 4)])
    storage.write_alerts([episode("b", 1_000, "retracted", 3), episode("b", 1_000, "closed", 4)])
    assert storage.alerts() == [episode("b", 1_000, "closed", 4)]


SHORT_TIERS = {
    "raw": "1d",
    "1m": "2d",
    "1h": "3d",
    "1d": "forever",
    "datastreams": {"keep-*": {"raw": "30d", "1m": "30d", "1h": "30d"}},
}


def test_with_short_tiers_old_raw_rows_disappear_while_the_rollups_keep_them(
    make_storage: Callable[..., BaseStorage], clock: FakeClock
) -> None:
    storage = make_storage(retention=SHORT_TIERS)
    clock.advance(DAY / 2 / 1000)  # now: day 0, noon
    storage.write_observations(
        [_obs(ds, t, 1.0) for ds in ("s", "keep-1") for t in range(0, DAY // 2, MINUTE)]
    )
    clock.advance(2 * DAY / 1000)  # day 2, noon: raw of day 0 is past its day, the rollups are not
    deleted = storage.apply_retention()
    assert (deleted["raw"], deleted["1m"]) == (720, 0)
    assert storage.raw("s", 0, DAY) == []
    assert len(storage.raw("keep-1", 0, DAY, limit=10_000)) == 720
    assert storage.series("s", 0, DAY // 2, points=100).resolution == "1m"  # raw is gone, minutes hold it
    assert storage.buckets("1m", 0, DAY)["s"][0] == Bucket(0, 1, 1.0, 1.0, 1.0, 1.0, 1.0)

    clock.advance(3 * DAY / 1000)  # day 5, noon: only the daily rollup is kept forever
    deleted = storage.apply_retention()
    assert (deleted["1m"], deleted["1h"], deleted["1d"]) == (720, 12, 0)
    assert storage.buckets("1h", 0, DAY).keys() == {"keep-1"}
    assert storage.buckets("1d", 0, DAY)["s"] == [Bucket(0, 720, 720.0, 1.0, 1.0, 1.0, 1.0)]
    assert storage.series("s", 0, DAY, points=1_000).resolution == "1d"
    assert storage.latest()["s"].phenomenon_time_ms == DAY // 2 - MINUTE  # the latest value is kept


def test_a_reading_older_than_the_raw_tier_is_refused_with_the_reason(
    make_storage: Callable[..., BaseStorage], clock: FakeClock
) -> None:
    storage = make_storage(retention=SHORT_TIERS)
    clock.advance(3 * DAY / 1000 + 1)
    rejected = storage.write_observations(
        [_obs("s", DAY - 1, 1.0), _obs("s", 2 * DAY, 2.0), _obs("keep-1", DAY - 1, 3.0)]
    )
    assert [r.position for r in rejected] == [0]
    assert rejected[0].reason == (
        "measured at 1970-01-01T23:59:59.999Z, before the raw retention horizon 1970-01-03T00:00:00.000Z"
        " of 's' (the raw tier keeps 1 days); keep raw data longer in [storage.retention] to store it"
    )
    assert storage.buckets("1d", 0, 3 * DAY) == {
        "s": [Bucket(2 * DAY, 1, 2.0, 2.0, 2.0, 2.0, 2.0)],
        "keep-1": [Bucket(0, 1, 3.0, 3.0, 3.0, 3.0, 3.0)],
    }


@pytest.mark.parametrize(
    ("tiers", "message"),
    [
        ({"raw": "30d", "1m": "7d"}, "1m is kept shorter than raw"),
        ({"datastreams": {"x": {"1h": "1d"}}}, "'x'.*1h is kept shorter than 1m"),
        ({"raw": "-1d"}, "not a duration"),
        ({"datastreams": {"x": {"2m": "1d"}}}, "unknown tier"),
    ],
)
def test_tiers_that_would_break_the_rollups_are_refused(tiers: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        open_storage("duckdb:///unused.duckdb", retention=tiers)


def test_rebuilding_recomputes_lost_rollups_but_never_where_raw_readings_are_gone(
    make_storage: Callable[..., BaseStorage], clock: FakeClock
) -> None:
    storage = make_storage(retention=SHORT_TIERS)
    readings = {("s", t): float(t % 7) for t in range(0, 3 * DAY, 5 * MINUTE)}
    storage.write_observations([_obs(ds, t, v) for (ds, t), v in readings.items()])
    clock.advance(3 * DAY / 1000)  # day 3: raw of day 0 and 1 has gone, the minute rollups are kept
    storage.apply_retention()
    before = storage.buckets("1m", 0, 3 * DAY)
    _execute(storage, "DELETE FROM rollup_1m")  # rollups lost (or a bulk load that skipped them)
    _execute(storage, "DELETE FROM rollup_1h")
    storage.rebuild_rollups(0, 3 * DAY)
    kept = {k: v for k, v in readings.items() if k[1] >= 2 * DAY}
    assert storage.buckets("1m", 0, 3 * DAY) == _expected(kept, MINUTE)
    assert storage.buckets("1h", 0, 3 * DAY) == _expected(kept, HOUR)
    assert storage.buckets("1d", 0, 3 * DAY) == _expected(readings, DAY)  # days 0 and 1 not wiped
    assert storage.buckets("1m", 2 * DAY, 3 * DAY) == {"s": [b for b in before["s"] if b.start_ms >= 2 * DAY]}


def _execute(storage: BaseStorage, statement: str) -> None:
    """Change the tables behind the interface's back, the way a bulk load or a lost file would."""
    from iotstream.storage.duckdb import DuckDBStorage
    from iotstream.storage.postgres import PostgresStorage

    if isinstance(storage, DuckDBStorage):
        storage._db.execute(statement)
    elif isinstance(storage, PostgresStorage):
        with storage._conn.cursor() as cur:
            cur.execute(statement)  # type: ignore[arg-type]
        storage._conn.commit()
    else:
        raise TypeError(f"no SQL access to {type(storage).__name__}")

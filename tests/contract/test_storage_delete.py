"""Contract: deleting single readings (SensorThings' DELETE of an Observation) keeps every rollup and
latest value exact on every backend: each case compares the store with a recompute from what is left."""

from collections.abc import Callable

from iotstream.models import Bucket, Observation
from iotstream.storage import BaseStorage
from iotstream.testing import FakeClock
from tests.contract.storage_reference import Readings, assert_store_holds, remember

MINUTE, HOUR, DAY = 60_000, 3_600_000, 86_400_000
T0 = 29 * DAY  # 1970-01-30: a month boundary (a new PostgreSQL partition) is two days away
END = T0 + 60 * DAY


def _obs(datastream: str, time_ms: int, result: object) -> Observation:
    return Observation(datastream, time_ms, result, time_ms + 5, f"{datastream}@{time_ms}={result}")


def _written(storage: BaseStorage, readings: list[Observation]) -> Readings:
    storage.write_observations(readings)
    expected: Readings = {}
    remember(expected, readings)
    return expected


def _delete(storage: BaseStorage, expected: Readings, datastream: str, times_ms: list[int]) -> int:
    for time_ms in times_ms:
        expected.pop((datastream, time_ms), None)
    return storage.delete_observations(datastream, times_ms)


def test_deleting_a_reading_in_the_middle_recomputes_its_minute_hour_and_day(storage: BaseStorage) -> None:
    expected = _written(storage, [_obs("s", T0 + i * 10_000, float(i)) for i in range(12)])
    assert _delete(storage, expected, "s", [T0 + 30_000]) == 1
    assert storage.buckets("1m", T0, T0 + MINUTE)["s"] == [Bucket(T0, 5, 12.0, 0.0, 5.0, 0.0, 5.0)]
    assert_store_holds(storage, expected, ["s"], 0, END)


def test_deleting_the_first_and_last_reading_of_a_minute_moves_its_first_and_last(
    storage: BaseStorage,
) -> None:
    expected = _written(storage, [_obs("s", T0 + i * 10_000, float(i)) for i in range(12)])
    assert _delete(storage, expected, "s", [T0 + 50_000, T0]) == 2
    assert storage.buckets("1m", T0, T0 + MINUTE)["s"] == [Bucket(T0, 4, 10.0, 1.0, 4.0, 1.0, 4.0)]
    assert_store_holds(storage, expected, ["s"], 0, END)


def test_deleting_the_newest_reading_makes_the_one_before_it_the_latest(storage: BaseStorage) -> None:
    # the one before is text, a month earlier (past the first lookbacks, in another partition)
    readings = [_obs("s", T0, 1.0), _obs("s", T0 + HOUR, "off"), _obs("s", T0 + 40 * DAY, 7.0)]
    expected = _written(storage, [*readings, _obs("other", T0 + 50 * DAY, 3.0)])
    assert storage.latest(["s"])["s"].result == 7.0
    assert _delete(storage, expected, "s", [T0 + 40 * DAY]) == 1
    assert storage.latest(["s"]) == {"s": _obs("s", T0 + HOUR, "off")}
    assert_store_holds(storage, expected, ["s", "other"], 0, END)
    assert _delete(storage, expected, "s", [T0 + HOUR]) == 1  # the next newest is a minute's only one
    assert storage.latest(["s"]) == {"s": _obs("s", T0, 1.0)}
    assert_store_holds(storage, expected, ["s", "other"], 0, END)


def test_deleting_the_only_reading_of_a_bucket_removes_the_bucket(storage: BaseStorage) -> None:
    lonely = T0 + 3 * DAY + 5 * HOUR  # alone in its minute, hour and day
    expected = _written(
        storage, [_obs("s", T0 + i * MINUTE, 2.0) for i in range(3)] + [_obs("s", lonely, 9.0)]
    )
    assert [b.start_ms for b in storage.buckets("1d", T0, END)["s"]] == [T0, T0 + 3 * DAY]
    assert _delete(storage, expected, "s", [lonely]) == 1
    for resolution in ("1m", "1h", "1d"):
        assert all(b.start_ms < lonely - DAY for b in storage.buckets(resolution, T0, END)["s"])
    assert_store_holds(storage, expected, ["s"], 0, END)


def test_deleting_every_reading_leaves_no_latest_value_and_no_buckets(storage: BaseStorage) -> None:
    expected = _written(
        storage, [_obs("s", T0 + i * HOUR, float(i)) for i in range(5)] + [_obs("t", T0, 1.0)]
    )
    assert _delete(storage, expected, "s", [T0 + i * HOUR for i in range(5)]) == 5
    assert list(storage.latest()) == ["t"]
    assert list(storage.buckets("1d", 0, END)) == ["t"]
    assert_store_holds(storage, expected, ["s", "t"], 0, END)


def test_times_without_a_reading_delete_nothing_and_change_nothing(storage: BaseStorage) -> None:
    expected = _written(storage, [_obs("s", T0, 1.0), _obs("t", T0 + 1, 2.0)])
    assert _delete(storage, expected, "s", [T0 + 1, T0 - 1, -5, 10**18]) == 0
    assert storage.delete_observations("nobody", [T0]) == 0
    assert storage.delete_observations("", [T0]) == storage.delete_observations("s", []) == 0
    assert_store_holds(storage, expected, ["s", "t"], 0, END)


def test_a_deleted_time_can_be_written_again(storage: BaseStorage) -> None:
    expected = _written(storage, [_obs("s", T0 + i * 1_000, float(i)) for i in range(5)])
    _delete(storage, expected, "s", [T0 + 4_000, T0 + 2_000])
    again = [_obs("s", T0 + 4_000, 40.0), _obs("s", T0 + 2_000, 20.0), _obs("s", T0 + 3_000, 30.0)]
    storage.write_observations(again)  # newer than the newest left, but not than the newest ever seen
    remember(expected, again)
    assert_store_holds(storage, expected, ["s"], 0, END)


def test_a_deletion_and_appends_to_the_same_minute_before_anything_is_read(storage: BaseStorage) -> None:
    # DuckDB: the deletion's recompute and the appends' own minute rollups are both pending at once
    expected = _written(storage, [_obs("s", T0 + i * 1_000, float(i)) for i in range(5)])
    _delete(storage, expected, "s", [T0 + 1_000])
    appended = [_obs("s", T0 + i * 1_000, float(i)) for i in range(5, 8)]
    storage.write_observations(appended)
    remember(expected, appended)
    _delete(storage, expected, "s", [T0 + 6_000])
    assert_store_holds(storage, expected, ["s"], 0, END)


def test_rollups_are_kept_where_retention_already_deleted_the_readings(
    make_storage: Callable[..., BaseStorage], clock: FakeClock
) -> None:
    storage = make_storage(retention={"raw": "1d", "1m": "30d", "1h": "30d", "1d": "forever"})
    clock.advance((T0 + DAY // 2) / 1000)
    storage.write_observations([_obs("s", T0 + i * MINUTE, 1.0) for i in range(10)])
    clock.advance(2 * DAY / 1000)
    storage.apply_retention()  # the raw readings are gone, their minutes are all that is left
    before = {resolution: storage.buckets(resolution, 0, END) for resolution in ("1m", "1h", "1d")}
    assert storage.delete_observations("s", [T0 + 3 * MINUTE]) == 0
    assert {resolution: storage.buckets(resolution, 0, END) for resolution in before} == before
    assert before["1d"]["s"] == [Bucket(T0, 10, 10.0, 1.0, 1.0, 1.0, 1.0)]

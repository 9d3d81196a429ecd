"""Retention settings and the background task, without a database."""

import threading

import pytest

from iotstream.storage import RetentionPolicy, RetentionSettings, RetentionWorker, StorageUnavailableError
from iotstream.storage.retention import DAY_MS, Deletion
from iotstream.testing import FakeClock


def test_each_datastream_gets_the_exact_override_then_the_first_matching_pattern_then_the_default() -> None:
    settings = RetentionSettings(
        raw="2d", datastreams={"boiler-1": {"raw": "5d"}, "boiler-*": {"raw": "3d"}, "*": {"1m": "100d"}}
    )
    assert settings.keep_for("boiler-1").raw == 5 * DAY_MS
    assert settings.keep_for("boiler-2").raw == 3 * DAY_MS
    assert (settings.keep_for("x").raw, settings.keep_for("x").minute) == (2 * DAY_MS, 100 * DAY_MS)


def test_deletions_group_datastreams_by_cutoff_at_utc_midnight() -> None:
    clock = FakeClock(10.5 * DAY_MS / 1000)  # day 10, noon
    policy = RetentionPolicy(
        RetentionSettings(
            raw="2d",
            datastreams={"keep": {"raw": "forever", "1m": "forever", "1h": "forever"}, "long": {"raw": "5d"}},
        ),
        clock,
    )
    assert policy.deletions("raw", ["a", "keep", "long"]) == [
        Deletion(8 * DAY_MS, None, ["keep", "long"]),
        Deletion(5 * DAY_MS, ["long"], []),
    ]
    assert policy.cutoff_for_all_ms("raw", ["a", "long"]) == 5 * DAY_MS
    assert policy.cutoff_for_all_ms("raw", ["a", "keep"]) is None
    assert policy.newest_horizon_ms("raw", ["long"]) == 8 * DAY_MS
    assert policy.deletions("1d", ["a"]) == []  # daily rollups are kept forever by default


def test_the_background_task_keeps_running_when_the_store_is_down() -> None:
    calls: list[int] = []
    ran_twice = threading.Event()

    def apply() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise StorageUnavailableError("PostgreSQL went away")
        ran_twice.set()

    worker = RetentionWorker(apply, interval_ms=10).start()
    try:
        assert ran_twice.wait(5), "the task stopped after the first failure"
    finally:
        worker.stop()
    assert len(calls) >= 2


@pytest.mark.parametrize("value", ["0d", "-1d", "soon"])
def test_a_tier_needs_a_positive_duration_or_forever(value: str) -> None:
    with pytest.raises(ValueError, match=r"positive time|not a duration"):
        RetentionSettings(raw=value)

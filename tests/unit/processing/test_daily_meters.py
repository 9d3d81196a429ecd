"""The daily meter job against hand-computed values and an independent computation of a simulated house."""

from typing import Any

import msgspec
import pytest

from iotstream.log.types import Record
from iotstream.processing.jobs import AGGREGATES, DailyMetersSettings
from iotstream.processing.jobs.daily_meters import daily_meter_jobs
from iotstream.sim import SmartHome, smart_home_readings
from iotstream.testing import run_job
from tests.meters import DAY, HOME, expected_days

HOUR = 3_600_000
D0 = 19_000 * DAY  # a UTC midnight


def run_meters(
    settings: DailyMetersSettings, readings: list[tuple[str, float, int]], batch_size: int = 100
) -> tuple[dict[tuple[str, int], dict[str, Any]], list[tuple[str, float, int]]]:
    """Both jobs of the meter job, the second fed with the first's day results as the log would."""
    days_job, derived_job = daily_meter_jobs(settings)
    first = run_job(days_job, readings, batch_size=batch_size, finish=False)
    records = [
        Record(settings.days_topic, 0, offset, doc["end"] - 1, b"home", msgspec.json.encode(doc))
        for offset, doc in enumerate(first.topics.get(settings.days_topic, []))
    ]
    second = run_job(derived_job, records, finish=False)
    late = [(r.key, r.value, r.timestamp_ms) for r in first.late]
    return first.latest(AGGREGATES) | second.latest(AGGREGATES), late


def test_differences_and_leakage_follow_corrections_within_the_allowed_lateness() -> None:
    settings = DailyMetersSettings(
        type="daily_meters",
        name="home",
        allowed_lateness="2d",
        aggregate={"E": "max", "A": "sum"},
        meters={"E": {"submeters": ["A"]}},
    )
    readings = [
        ("E", 100, D0 - 1_000),
        ("A", 5, D0 + HOUR),
        ("E", 130, D0 + DAY - 1_000),
        ("A", 7, D0 + DAY + HOUR),
        ("E", 170, D0 + 2 * DAY - 1_000),
        ("A", 4, D0 + 2 * DAY + HOUR),
        ("E", 200, D0 + 3 * DAY - 1_000),
        ("A", 1, D0 + 3 * DAY + HOUR),  # closes day 2
        ("A", 3, D0 + DAY + 2 * HOUR),  # late, within 2 days: day 1's A is now 10
        ("E", 180, D0 + DAY + 3 * HOUR),  # late, within: day 1's E is 180, so day 2's difference changes
        ("A", 100, D0 + 5 * HOUR),  # day 0 ended more than 2 days ago: the late output
    ]
    for batch_size in (1, 3, 100):
        results, late = run_meters(settings, readings, batch_size)
        values = {(key, (start - D0) // DAY): doc["sum"] for (key, start), doc in results.items()}
        assert {k: v for k, v in values.items() if k[0] in ("E.diff", "E.rest")} == {
            ("E.diff", 0): 30,
            ("E.diff", 1): 50,
            ("E.diff", 2): 20,
            ("E.rest", 0): 25,
            ("E.rest", 1): 40,
            ("E.rest", 2): 16,
        }
        assert values[("A", 1)] == 10
        assert results[("E.diff", D0 + 2 * DAY)]["revision"] == 1  # 30 first, corrected to 20
        assert late == [("A", 100, D0 + 5 * HOUR)]


@pytest.mark.parametrize("lateness", ["0s", "3d"])
def test_a_simulated_house_gives_the_independently_computed_days(lateness: str) -> None:
    settings = DailyMetersSettings(**{**HOME, "allowed_lateness": lateness})
    readings = [
        (r["datastream"], r["value"], r["time"]) for r in smart_home_readings(SmartHome(D0, days=3, seed=7))
    ]
    results, late = run_meters(settings, readings)
    expected, expected_late = expected_days(readings, settings.allowed_lateness)
    got = {key: doc[HOME["aggregate"].get(key[0], "sum")] for key, doc in results.items()}
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, rel=1e-9, abs=1e-6), key
    assert late == expected_late
    assert len([k for k in expected if k[0] == "Wtot.rest"]) == 3  # days 0, 1, 2: every day was derived
    if lateness == "0s":
        assert len(late) == 14 + 2  # every 2-day-old and 10-day-old W1 reading
    else:
        assert [value for _, value, _ in late] == [
            value for name, value, time in readings if time < D0 - 7 * DAY
        ]

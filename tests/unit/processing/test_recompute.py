"""Recomputing a job offline: its stages chained in memory over stored readings, results under the live
ids and marked as recomputed, the range widened to whole windows, jobs on processing time refused."""

from collections.abc import Iterator
from typing import Any

import msgspec
import pytest

from iotstream.models import Observation
from iotstream.processing.codec import event_id
from iotstream.processing.exceptions import ProcessingConfigError
from iotstream.processing.job import Job
from iotstream.processing.jobs import AGGREGATES, DailyMetersSettings, StalenessSettings, daily_meter_jobs
from iotstream.processing.jobs.staleness import staleness_job
from iotstream.processing.recompute import RECOMPUTED, recompute, widened
from iotstream.processing.windowing import WindowResult
from iotstream.processing.windows import Daily, Tumbling
from iotstream.sim import SmartHome, smart_home_readings
from tests.meters import DAY, HOME, expected_days

D0 = 19_723 * DAY  # 2024-01-01


class Produced:
    def __init__(self) -> None:
        self.records: list[tuple[str, dict[str, Any], list[tuple[str, bytes]]]] = []

    def __call__(
        self, topic: str, value: bytes, key: bytes, headers: list[tuple[str, bytes]], ms: int
    ) -> None:
        self.records.append((topic, msgspec.json.decode(value), headers))


def stored(readings: list[dict[str, Any]]) -> Any:
    def between(key: str, start_ms: int, end_ms: int) -> Iterator[Observation]:
        rows = sorted(
            (r for r in readings if r["datastream"] == key and start_ms <= r["time"] < end_ms),
            key=lambda r: r["time"],
        )
        return iter([Observation(key, r["time"], r["value"], r["time"], "") for r in rows])

    return between


def test_the_meter_jobs_two_stages_give_the_days_differences_and_leakage_of_the_readings() -> None:
    readings = [r for r in smart_home_readings(SmartHome(D0, days=4, seed=3)) if r["time"] >= D0]
    settings = DailyMetersSettings.model_validate(HOME)
    produced = Produced()
    done = recompute(
        daily_meter_jobs(settings),
        sorted(HOME["aggregate"]),
        stored(readings),
        produced,
        D0 + DAY,
        D0 + 3 * DAY,
    )
    assert (done.start_ms, done.end_ms) == (D0, D0 + 3 * DAY)
    assert done.readings == len([r for r in readings if r["time"] < D0 + 3 * DAY])
    in_range = sorted((r for r in readings if r["time"] < D0 + 3 * DAY), key=lambda r: r["time"])
    expected, _ = expected_days([(r["datastream"], r["value"], r["time"]) for r in in_range], 0)
    days = {(doc["key"], doc["start"]): doc for topic, doc, _ in produced.records if topic == AGGREGATES}
    got = {key: doc[HOME["aggregate"].get(key[0], "sum")] for key, doc in days.items() if key in expected}
    assert got == pytest.approx(expected)
    assert {(d["key"], d["start"]) for d in days.values() if d["key"].endswith(".rest")} == {
        (f"{meter}.rest", day) for meter in HOME["meters"] for day in (D0 + DAY, D0 + 2 * DAY)
    }  # the last day closes too: the range ends there
    assert [
        topic for topic, _, _ in produced.records if topic != AGGREGATES
    ] == []  # stages pass on in memory
    assert all(RECOMPUTED in headers for _, _, headers in produced.records)
    first = produced.records[0]
    assert dict(first[2])["id"].decode().startswith("home/1d/")  # the live job's id: the sink replaces


def test_the_range_grows_to_whole_windows_from_the_one_before() -> None:
    daily = [Job("j", sources=["observations"]).window(Daily("Europe/Berlin"))]
    start, end = widened(daily, D0 + 5 * 3_600_000, D0 + DAY + 1)
    assert (start, end) == (D0 - DAY - 3_600_000, D0 + 2 * DAY - 3_600_000)  # Berlin midnights
    minutes = [Job("j", sources=["observations"]).window(Tumbling(60_000))]
    assert widened(minutes, 90_000, 150_000) == (0, 180_000)
    assert widened(minutes, 90_000, 150_000, until_ms=240_000) == (0, 240_000)  # the minute after: over
    assert widened(minutes, 90_000, 150_000, until_ms=239_999) == (0, 180_000)  # not over yet
    assert widened([Job("j", sources=["observations"]).map(abs)], 5, 7) == (5, 7)


def test_jobs_on_processing_time_or_on_other_topics_are_refused_with_the_reason() -> None:
    silence = staleness_job(
        StalenessSettings(type="staleness", name="quiet", datastreams=["*"], after=60_000)
    )
    with pytest.raises(ProcessingConfigError, match="acts on processing time"):
        recompute([silence], [], stored([]), Produced(), 0, DAY)
    with pytest.raises(ProcessingConfigError, match="only a job that reads the readings"):
        recompute([Job("j", sources=["elsewhere"])], [], stored([]), Produced(), 0, DAY)


def test_ids_are_the_ones_the_live_job_gives() -> None:
    job = Job("means", sources=["observations"]).window(Tumbling(60_000)).to("out")
    produced = Produced()
    readings = [{"datastream": "s1", "time": t, "value": 1.0} for t in (1_000, 2_000, 61_000)]
    recompute([job], ["s1"], stored(readings), produced, 0, 120_000)
    ids = [dict(headers)["id"].decode() for _, _, headers in produced.records]
    assert ids == [
        event_id("means", ("s1", WindowResult("s1", "1m", start, start + 60_000, {}), 0))
        for start in (0, 60_000)
    ]

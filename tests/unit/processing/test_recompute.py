"""Recomputing a job offline: its stages chained in memory over stored readings, results under the live
ids and marked as recomputed, the range widened to whole windows or whole alert episodes, episodes the
readings no longer give retracted, jobs on processing time refused."""

from collections.abc import Iterator
from typing import Any

import msgspec
import pytest

from iotstream.models import Alert, Observation
from iotstream.processing.codec import event_id
from iotstream.processing.exceptions import ProcessingConfigError
from iotstream.processing.job import Job
from iotstream.processing.jobs import AGGREGATES, DailyMetersSettings, StalenessSettings, daily_meter_jobs
from iotstream.processing.jobs.staleness import staleness_job
from iotstream.processing.jobs.threshold import ThresholdSettings, episode_ends, threshold_job
from iotstream.processing.recompute import RECOMPUTED, episode_ranges, recompute, widened
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
    jobs = daily_meter_jobs(settings)
    ranges = dict.fromkeys(sorted(HOME["aggregate"]), widened(jobs, D0 + DAY, D0 + 3 * DAY))
    done = recompute(jobs, ranges, stored(readings), produced)
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
        recompute([silence], {}, stored([]), Produced())
    with pytest.raises(ProcessingConfigError, match="only a job that reads the readings"):
        recompute([Job("j", sources=["elsewhere"])], {}, stored([]), Produced())


def test_ids_are_the_ones_the_live_job_gives() -> None:
    job = Job("means", sources=["observations"]).window(Tumbling(60_000)).to("out")
    produced = Produced()
    readings = [{"datastream": "s1", "time": t, "value": 1.0} for t in (1_000, 2_000, 61_000)]
    recompute([job], {"s1": (0, 120_000)}, stored(readings), produced)
    ids = [dict(headers)["id"].decode() for _, _, headers in produced.records]
    assert ids == [
        event_id("means", ("s1", WindowResult("s1", "1m", start, start + 60_000, {}), 0))
        for start in (0, 60_000)
    ]


M = 60_000
HOT = ThresholdSettings(type="threshold", name="hot", datastreams=["s*"], above=30.0, hysteresis=2.0)
# s1: an episode from 2 to 5 (4 keeps it open at 29: within the hysteresis), closed at 6 (27 < 28)
S1 = [(0, 20.0), (1, 29.0), (2, 31.0), (3, 35.0), (4, 29.0), (5, 33.0), (6, 27.0), (7, 31.0), (8, 20.0)]


def temperatures(points: list[tuple[int, float]], key: str = "s1") -> list[dict[str, Any]]:
    return [{"datastream": key, "time": minute * M, "value": value} for minute, value in points]


def test_a_rule_replays_each_datastream_from_and_to_readings_that_leave_no_episode_open() -> None:
    ends = episode_ends(HOT, {})
    assert [ends("s1", value) for _, value in S1] == [
        True,
        False,
        False,
        False,
        False,
        False,
        True,
        False,
        True,
    ]
    between = stored(temperatures(S1) + temperatures([(3, 10.0), (4, 50.0)], "s2"))
    # from inside the episode (minute 3 to 4): back to minute 0, on to just after minute 6
    ranges = episode_ranges(ends, between, ["s1", "s2"], 3 * M, 4 * M, 60 * M)
    assert ranges == {"s1": (0, 6 * M + 1), "s2": (0, 60 * M)}  # s2: none before, open until now
    assert episode_ranges(ends, between, ["s1"], 7 * M, 7 * M + 1, 60 * M) == {"s1": (6 * M, 8 * M + 1)}
    late_start = stored(temperatures([(minute, 40.0) for minute in range(3)]))
    assert episode_ranges(ends, late_start, ["s1"], 3 * DAY, 4 * DAY, 5 * DAY) == {"s1": (0, 5 * DAY)}


def test_a_rule_recomputed_gives_the_live_episodes_and_retracts_the_ones_the_readings_no_longer_give() -> (
    None
):
    readings = temperatures(S1)
    live = Produced()
    recompute([threshold_job(HOT)], {"s1": (0, 9 * M)}, stored(readings), live)
    episodes = {doc["value"]["start"]: doc["value"] for topic, doc, _ in live.records if topic == "alerts"}
    assert [(e["start"], e["last"], e["closed_at"]) for e in episodes.values()] == [
        (2 * M, 5 * M, 6 * M),
        (7 * M, 7 * M, 8 * M),
    ]
    # the store holds what a live job saw before minutes 2 and 3 were imported: an episode from 4
    partial = Alert("hot", "s1", 4 * M, 5 * M, 33.0, 31.0, 30.0, "closed", 6 * M)
    other_rule = Alert("cold", "s1", 4 * M, 5 * M, 33.0, 31.0, 30.0, "closed", 6 * M)
    kept = Alert("hot", "s1", 7 * M, 7 * M, 31.0, 31.0, 30.0, "closed", 8 * M)

    def stored_episodes(key: str, start_ms: int, end_ms: int) -> list[Alert]:
        return [a for a in (partial, other_rule, kept) if a.rule == "hot" and start_ms <= a.start_ms < end_ms]

    again = Produced()
    ranges = episode_ranges(episode_ends(HOT, {}), stored(readings), ["s1"], 3 * M, 4 * M, 60 * M)
    done = recompute([threshold_job(HOT)], ranges, stored(readings), again, stored_episodes=stored_episodes)
    alerts = [(doc["value"], dict(headers)) for topic, doc, headers in again.records if topic == "alerts"]
    assert [(doc["event"], doc["start"]) for doc, _ in alerts] == [
        ("open", 2 * M), ("update", 2 * M), ("update", 2 * M), ("update", 2 * M), ("close", 2 * M),
        ("retract", 4 * M),
    ]  # fmt: skip
    assert alerts[:5] == [(doc, headers) for doc, headers in (
        (d["value"], dict(h)) for t, d, h in live.records if t == "alerts"
    )][:5]  # fmt: skip
    retraction, headers = alerts[-1]
    assert (retraction["rule"], retraction["datastream"], retraction["state"]) == ("hot", "s1", "retracted")
    assert ("recomputed", b"1") in headers.items()
    assert (done.results, done.retracted) == (5, 1)

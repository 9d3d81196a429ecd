"""Threshold alerts with hysteresis: episodes computed by hand, disorder, interleaving, min_duration."""

from typing import Any

import pytest
from pydantic import ValidationError

from iotstream.processing.jobs import ThresholdSettings
from iotstream.processing.jobs.threshold import threshold_job
from iotstream.testing import run_job

M = 60_000
RULE = {"type": "threshold", "name": "overheat", "datastreams": ["s1", "boiler-*"], "above": 100.0}
# 100.0 is not above; 99.5 = threshold - hysteresis keeps it open; 99.4 closes it
S1 = [("s1", 99.0, 0), ("s1", 100.0, 1 * M), ("s1", 100.5, 2 * M), ("s1", 99.5, 3 * M)]
S1 += [("s1", 101.5, 4 * M), ("s1", 99.4, 5 * M), ("s1", 99.0, 6 * M)]


def _events(readings: list[tuple[str, Any, int]], batch_size: int = 1, **rule: Any) -> list[dict[str, Any]]:
    settings = ThresholdSettings(**(RULE | {"hysteresis": 0.5} | rule))
    sink = run_job(threshold_job(settings), readings, batch_size=batch_size)
    return sink.topics.get("alerts", [])


def _summary(events: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [
        (e["key"], e["value"]["event"], e["value"]["start"], e["value"]["last"], e["value"]["max"],
         round(e["value"]["avg"], 6), e["value"]["closed_at"])
        for e in events
    ]  # fmt: skip


def test_an_episode_opens_strictly_above_and_closes_strictly_below_threshold_minus_hysteresis() -> None:
    events = _events(S1)
    assert _summary(events) == [
        ("s1", "open", 2 * M, 2 * M, 100.5, 100.5, None),
        ("s1", "update", 2 * M, 3 * M, 100.5, 100.0, None),  # (100.5 + 99.5) / 2
        ("s1", "update", 2 * M, 4 * M, 101.5, 100.25, None),  # (6000 + 6030) / 120 s
        ("s1", "close", 2 * M, 4 * M, 101.5, 100.25, 5 * M),
    ]
    closed = events[-1]["value"]
    assert (closed["state"], closed["duration_s"], closed["threshold"]) == ("closed", 120.0, 100.0)
    assert events[-1]["time"] == 5 * M  # the closing reading's time; the others their last reading's
    assert [e["value"]["state"] for e in events[:-1]] == ["open"] * 3


def test_disorder_within_the_out_of_orderness_gives_the_same_episodes() -> None:
    shuffled = [S1[i] for i in (1, 0, 3, 2, 5, 4, 6)]  # each at most 1 minute behind
    ordered = _events(S1, out_of_orderness="2m")
    assert _events(shuffled, out_of_orderness="2m") == ordered
    assert _summary(ordered) == _summary(_events(S1))


def test_two_datastreams_do_not_interfere() -> None:
    other = [("boiler-2", 120.0, 1 * M + 1), ("boiler-2", 90.0, 2 * M + 1), ("pump", 500.0, 3 * M)]
    mixed = sorted([*S1, *other], key=lambda r: r[2])
    events = _events(mixed)
    assert [e for e in _summary(events) if e[0] == "s1"] == _summary(_events(S1))
    assert [e for e in _summary(events) if e[0] != "s1"] == [
        ("boiler-2", "open", M + 1, M + 1, 120.0, 120.0, None),
        ("boiler-2", "close", M + 1, M + 1, 120.0, 120.0, 2 * M + 1),
    ]  # "pump" matches no pattern


def test_min_duration_announces_an_episode_only_once_it_has_lasted() -> None:
    short = [("s1", 101.0, 0), ("s1", 90.0, M)]
    assert (
        _events([*short, *[(n, v, t + 10 * M) for n, v, t in S1]], min_duration="2m")[0]["value"]["start"]
        == 12 * M
    )
    assert _summary(_events(S1, min_duration="2m")) == [
        ("s1", "open", 2 * M, 4 * M, 101.5, 100.25, None),
        ("s1", "close", 2 * M, 4 * M, 101.5, 100.25, 5 * M),
    ]


def test_a_below_rule_mirrors_the_comparisons() -> None:
    readings = [("s1", 5.0, 0), ("s1", 4.0, M), ("s1", 5.5, 2 * M), ("s1", 3.0, 3 * M), ("s1", 5.6, 4 * M)]
    events = _events(readings, above=None, below=5.0)
    assert _summary(events)[-1] == ("s1", "close", M, 3 * M, 3.0, 4.5, 4 * M)  # (4.75·60 + 4.25·60) / 120


def test_a_reading_that_is_not_a_number_is_rejected_and_the_rest_go_on() -> None:
    settings = ThresholdSettings(**RULE)
    sink = run_job(threshold_job(settings), [("s1", "hot", 0), ("s1", 101.0, M)], batch_size=1)
    assert [e["value"]["event"] for e in sink.topics["alerts"]] == ["open"]
    assert sink.rejected == ["process raised ValueError: threshold rules need numbers, got str"]


def test_a_rule_needs_exactly_one_direction() -> None:
    with pytest.raises(ValidationError, match="exactly one of `above` and `below`"):
        ThresholdSettings(**(RULE | {"below": 1.0}))


def test_a_bad_reading_in_the_middle_of_a_batch_leaves_the_episodes_of_the_others_unchanged() -> None:
    with_bad = [*S1[:3], ("s1", "hot", 2 * M + 1), *S1[3:]]
    mixed = _events(with_bad, batch_size=100)
    assert _summary(mixed) == _summary(_events(S1))  # nothing before the bad one is counted twice

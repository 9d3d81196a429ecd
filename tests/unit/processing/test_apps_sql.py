"""Stream apps' SQL: the seed's filter cases, the window results of the built-in job, precise refusals,
and no crash on any string."""

import json
import random
from pathlib import Path
from typing import Any

import pytest

from iotstream.log.topics import REGISTRY_DATASTREAMS
from iotstream.processing.apps import AppSpec, SqlError, app_job, plan
from iotstream.processing.job import Job
from iotstream.processing.task import Task
from iotstream.processing.windows import Tumbling
from iotstream.testing import reading_record, run_job

FIXTURES = Path(__file__).parents[2] / "fixtures"
CASES = json.loads((FIXTURES / "panta_rhei_streamhub_filter_cases.json").read_text())
M = 60_000


def run_app(sql: str, readings: list[tuple[str, Any, int]], tenant: str = "default", **timing: int) -> Any:
    return run_job(app_job(AppSpec(tenant, "app", sql, **timing)), readings, batch_size=7)


def outputs(sink: Any) -> list[tuple[str, int, Any]]:
    return [(doc["datastream"], doc["time"], doc["value"]) for doc in sink.topics.get("observations", [])]


@pytest.mark.parametrize(
    "case", [c for c in CASES["cases"] if "expression" in c], ids=lambda c: f"line{c['line']}"
)
def test_the_seeds_filter_cases_keep_exactly_the_readings_they_should(case: dict[str, Any]) -> None:
    record = CASES["input_record"]
    other = ("Station_123.Air Temperature", 99.0, 2_000)  # fails most of the cases: something to drop
    sink = run_app(
        f"SELECT * FROM * WHERE {case['expression']}",  # noqa: S608 - an app's SQL, by design
        [(record["name"], record["result"], 1_000), other],
    )
    kept = [key for key, _, _ in outputs(sink) if key == f"apps/app/{record['name']}"]
    assert kept == ([f"apps/app/{record['name']}"] if case["expected"] else [])


@pytest.mark.parametrize(
    "case", [c for c in CASES["cases"] if "arithmetic" in c], ids=lambda c: c["arithmetic"]
)
def test_the_seeds_arithmetic_cases_compute_their_values(case: dict[str, Any]) -> None:
    sql = f"SELECT {case['arithmetic']} AS value FROM *"  # noqa: S608 - an app's SQL, by design
    sink = run_app(sql, [("s", 1.0, 1_000)])
    assert outputs(sink) == [("apps/app/s", 1_000, pytest.approx(case["expected_value"]))]


def test_the_seeds_example_query_forwards_the_two_stations_below_30() -> None:
    prefix = "is.iceland.iot4cps-wp5-WeatherService.Stations."
    readings = [
        (f"{prefix}Station_1.Air Temperature", 12.0, 1_000),
        (f"{prefix}Station_2.Air Temperature", 31.0, 2_000),
        (f"{prefix}Station_2.Air Temperature", 29.0, 3_000),
        (f"{prefix}Station_3.Air Temperature", 1.0, 4_000),
    ]
    sink = run_app(CASES["example_stream_query"], readings)
    assert outputs(sink) == [
        (f"apps/app/{prefix}Station_1.Air Temperature", 1_000, 12.0),
        (f"apps/app/{prefix}Station_2.Air Temperature", 3_000, 29.0),
    ]


def test_projections_name_their_outputs_and_nulls_make_no_reading() -> None:
    sql = (
        "SELECT datastream, value * 1.8 + 32 AS value, value / (value - 10) AS ratio"
        " FROM readings WHERE value > 0"
    )
    sink = run_app(sql, [("t", 10.0, 1_000), ("t", 20.0, 2_000), ("t", -5.0, 3_000)])
    assert outputs(sink) == [
        ("apps/app/t", 1_000, 50.0),  # 10 / 0 is NULL: no ratio reading at 1_000
        ("apps/app/t", 2_000, 68.0),
        ("apps/app/t/ratio", 2_000, 2.0),
    ]


def test_an_app_reads_only_its_tenants_readings_and_no_app_output() -> None:
    readings = [
        ("s", 1.0, 1_000),
        ("@acme/s", 2.0, 1_000),
        ("@acme/apps/other/s", 3.0, 1_000),
        ("@acme/t", 4.0, 2_000),
    ]
    sink = run_app("SELECT * FROM readings", readings, tenant="acme")
    assert outputs(sink) == [("@acme/apps/app/s", 1_000, 2.0), ("@acme/apps/app/t", 2_000, 4.0)]


def test_thing_location_and_unit_come_from_the_registrys_datastream_record() -> None:
    boiler = {
        "name": "boiler",
        "unitOfMeasurement": {"symbol": "degC"},
        "Thing": {"name": "Boiler room", "Locations": [{"name": "Basement"}]},
    }
    tables = {REGISTRY_DATASTREAMS: {"@acme/boiler": boiler, "@acme/attic": {"name": "attic"}}}
    sql = "SELECT datastream, thing, location, unit FROM readings WHERE thing LIKE 'Boiler%' OR unit IS NULL"
    task = Task(app_job(AppSpec("acme", "app", sql)), 0, tables, clock=lambda: 0.0)
    records = [
        reading_record(key, 1.0, 1_000, offset=i)
        for i, key in enumerate(["@acme/boiler", "@acme/attic", "@acme/x"])
    ]
    out, rejected = task.process(records)
    assert rejected == []
    # attic and x pass WHERE (no unit) but have no Thing either: NULLs, so no readings
    assert sorted((event[0], event[1].value) for _, event in out.to_topics) == [
        ("@acme/apps/app/boiler/location", "Basement"),
        ("@acme/apps/app/boiler/thing", "Boiler room"),
        ("@acme/apps/app/boiler/unit", "degC"),
    ]


STATS = ("count", "sum", "min", "max", "avg", "first", "last")
WINDOWED = (
    "SELECT datastream, count(*) AS count, sum(value) AS sum, min(value) AS min, max(value) AS max,"
    " avg(value) AS avg, first(value) AS first, last(value) AS last"
    " FROM readings GROUP BY datastream, TUMBLE(time, INTERVAL '1' MINUTE)"
)


def _disordered_readings(seed: int) -> list[tuple[str, float, int]]:
    """Three datastreams over ten minutes, shuffled locally, with some readings minutes late."""
    rng = random.Random(seed)
    readings = [
        (f"s{i % 3}", round(rng.uniform(-10, 40), 2), t) for i, t in enumerate(range(0, 10 * M, 7_919))
    ]
    for index in range(0, len(readings) - 5, 5):
        window = readings[index : index + 5]
        rng.shuffle(window)
        readings[index : index + 5] = window
    for _ in range(8):  # move a reading far later in arrival: late, some within the allowed lateness
        readings.append(readings.pop(rng.randrange(len(readings) // 2)))
    return readings


@pytest.mark.parametrize("seed", range(5))
def test_a_windowed_app_gives_the_built_in_window_jobs_results_and_corrections(seed: int) -> None:
    readings = _disordered_readings(seed)
    built_in = (
        Job("builtin", sources=["observations"], out_of_orderness_ms=20_000)
        .window(Tumbling(M), allowed_lateness_ms=2 * M)
        .to("out")
    )
    expected = run_job(built_in, readings, batch_size=7)
    sink = run_app(WINDOWED, readings, out_of_orderness_ms=20_000, allowed_lateness_ms=2 * M)
    want = {
        (doc["key"], doc["start"], doc["revision"], stat): doc[stat]
        for doc in expected.topics["out"]
        for stat in STATS
    }
    got = {}
    for doc in sink.topics["observations"]:
        datastream, stat = doc["datastream"].removeprefix("apps/app/").rsplit("/", 1)
        assert doc["window"]["end"] - doc["window"]["start"] == M
        got[(datastream, doc["time"], doc["window"]["revision"], stat)] = doc["value"]
    assert got == want
    assert any(revision > 0 for _, _, revision, _ in want)  # corrections happened and matched
    assert len(sink.late) == len(expected.late) > 0  # and so did readings too late for either


def test_hop_and_session_windows_with_having() -> None:
    readings = [("s", 1.0, 0), ("s", 3.0, 20_000), ("s", 5.0, 50_000), ("s", 7.0, 200_000)]
    hop = (
        "SELECT avg(value) AS value FROM readings"
        " GROUP BY HOP(time, INTERVAL '30' SECOND, INTERVAL '1' MINUTE)"
    )
    assert [(t, v) for _, t, v in outputs(run_app(hop, readings))] == [
        (-30_000, 2.0),
        (0, 3.0),
        (30_000, 5.0),
        (150_000, 7.0),
        (180_000, 7.0),
    ]
    session = (
        "SELECT datastream, count(*) AS value FROM readings"
        " GROUP BY datastream, SESSION(time, INTERVAL '30' SECOND) HAVING count(*) > 1"
    )
    # 50 s is a gap of exactly 30 s after 20 s: a new session (sessions are half-open), alone like 200 s
    assert outputs(run_app(session, readings)) == [("apps/app/s", 0, 2)]


def test_stddev_and_group_by_another_column() -> None:
    readings = [("a", 2.0, 0), ("a", 4.0, 1), ("a", 4.0, 2), ("a", 4.0, 3), ("a", 5.0, 4), ("a", 5.0, 5)]
    readings += [("a", 7.0, 6), ("a", 9.0, 7), ("b", 1.0, 8)]
    sql = (
        "SELECT stddev_pop(value) AS pop, stddev(value) AS sample, count(*) AS n FROM readings"
        " GROUP BY TUMBLE(time, INTERVAL '1' MINUTE)"
    )
    result = {key: value for key, _, value in outputs(run_app(sql, readings[:-1]))}
    assert result == {"apps/app/pop": 2.0, "apps/app/sample": pytest.approx(2.138089935), "apps/app/n": 8}
    by_length = (
        "SELECT count(*) AS n FROM readings GROUP BY length(datastream), TUMBLE(time, INTERVAL '1' MINUTE)"
    )
    with pytest.raises(SqlError, match=r"GROUP BY LENGTH\(datastream\) \(group by columns\)"):
        plan(by_length)


@pytest.mark.parametrize(
    ("sql", "message", "line", "column"),
    [
        ("SELECT value FROM readings ORDER BY time", "ORDER BY is not supported", 1, 37),
        ("SELECT value FROM readings LIMIT 1", "LIMIT is not supported", 1, 34),
        ("SELECT a.value FROM readings JOIN x ON 1 = 1", "JOIN is not supported", 1, 35),
        ("SELECT foo FROM readings", "unknown column 'foo'", 1, 8),
        (
            "SELECT value\nFROM readings\nWHERE now() > 1",
            "function CURRENT_TIMESTAMP() is not supported",
            3,
            7,
        ),
        ("SELECT value FROM other", "an app reads FROM readings", 1, 19),
        ("SELECT avg(value) AS a FROM readings", "need one event-time window in GROUP BY", 1, 8),
        ("SELECT value FROM readings WHERE value IN (SELECT 1)", "a subquery is not supported", 1, 51),
        ("SELECT row_number() OVER () AS n FROM readings", "window function (OVER) is not supported", 1, 8),
        ("SELECT value * 2 FROM readings", "name the expression 'value * 2' with AS", 1, 8),
        ("SELECT value FROM readings WHERE avg(value) > 1", "an aggregate cannot be used in WHERE", 1, 34),
        (
            "SELECT median(value) AS m FROM readings GROUP BY TUMBLE(time, INTERVAL '1' MINUTE)",
            "MEDIAN() is not supported",
            1,
            8,
        ),
        (
            "SELECT count(DISTINCT value) AS n FROM readings GROUP BY TUMBLE(time, INTERVAL '1' MINUTE)",
            "COUNT(DISTINCT ...)",
            1,
            8,
        ),
        ("SELECT value FROM readings GROUP BY TUMBLE(time, 5)", "a window's size is an INTERVAL", 1, 50),
        ("SELECT * FROM readings WHERE", "syntax error: an incomplete WHERE expression", 1, 28),
        ("SELECT value FROM readings UNION SELECT value FROM readings", "UNION (an app is one SELECT)", 1, 8),
        ("SELECT value, value FROM readings", "names 'value' more than once", None, None),
        ("SELECT  FROM readings", "select at least one value", 1, 14),
        ("SELECT CAST(value AS DATE) AS d FROM readings", "CAST to DATE is not supported", 1, 13),
    ],
)
def test_what_an_app_cannot_run_is_named_with_its_position(
    sql: str, message: str, line: int | None, column: int | None
) -> None:
    with pytest.raises(SqlError) as refused:
        plan(sql)
    assert message in refused.value.reason
    assert (refused.value.line, refused.value.column) == (line, column)

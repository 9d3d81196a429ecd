"""Grafana compatibility: the SimpleJSON requests recorded in the fixtures are replayed against a running
platform and the answers checked for shape and value; the JSON API / Infinity conventions likewise."""

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from iotstream.config import load_settings
from iotstream.embedded import EmbeddedPlatform
from iotstream.models import Alert, Observation, WindowAggregate
from iotstream.storage import BaseStorage

FIXTURES = Path(__file__).parents[1] / "fixtures"
SIMPLEJSON = json.loads((FIXTURES / "grafana_simplejson_contract.json").read_text())
INFINITY = json.loads((FIXTURES / "grafana_jsonapi_infinity_contract.json").read_text())
DASHBOARD = json.loads((FIXTURES / "orestiszar_grafana_simplejson_dashboard.json").read_text())
JAN_1 = 1_672_531_200_000  # 2023-01-01T00:00:00Z, where the recorded requests look
HOUR, DAY = 3_600_000, 86_400_000


def day(datastream: str, start_ms: int, avg: float) -> WindowAggregate:
    return WindowAggregate(datastream, "1d", start_ms, start_ms + DAY, 1, avg, avg, avg, avg, avg, avg)


def seed(storage: BaseStorage) -> None:
    """The values the recorded responses hold, plus readings of the seed project's sensors."""
    storage.write_aggregates(
        [day("TH1", JAN_1, 21.5), day("TH1", JAN_1 + DAY, 21.5), day("HVAC2", JAN_1, 96.0)]
    )
    storage.write_aggregates([day("Wtot.rest", JAN_1, 3.0), day("Wtot.rest", JAN_1 + DAY, -1.0)])
    readings = [
        Observation(name, JAN_1 + minute * 60_000, float(minute % 60), JAN_1, f"{name}{minute}")
        for name in ("TH1", "HVAC2")
        for minute in range(3 * 24 * 60)
    ]
    storage.write_observations(readings)


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[EmbeddedPlatform]:
    keep = {"raw": "36500d", "1m": "36500d", "1h": "36500d"}
    settings = load_settings(
        data_dir=tmp_path,
        api={"port": 0, "cors_origins": ["*"]},
        storage={"retention": keep},
    )
    with EmbeddedPlatform(settings) as running:
        assert running.storage is not None
        seed(running.storage)
        running.storage.write_alerts(
            [
                Alert(
                    "overheat",
                    "boiler-1",
                    JAN_1 + HOUR,
                    JAN_1 + 2 * HOUR,
                    104.0,
                    102.0,
                    100.0,
                    "closed",
                    JAN_1 + 3 * HOUR,
                ),
                Alert(
                    "overheat", "boiler-2", JAN_1 + 5 * HOUR, JAN_1 + 5 * HOUR, 101.0, 101.0, 100.0, "open"
                ),
                Alert("overheat", "boiler-1", JAN_1 + 9 * DAY, JAN_1 + 9 * DAY, 110.0, 110.0, 100.0, "open"),
                Alert("silent", "meter-9", JAN_1, JAN_1 + HOUR, None, None, 900.0, "closed", JAN_1 + HOUR),
            ]
        )
        yield running


@pytest.fixture
def api(platform: EmbeddedPlatform) -> Iterator[httpx.Client]:
    assert platform.api is not None
    with httpx.Client(base_url=platform.api.url + "/grafana") as client:
        yield client


def test_the_health_check_answers_200(api: httpx.Client) -> None:
    assert api.get("/").status_code == SIMPLEJSON["endpoints"]["GET /"]["expect_status"]


def test_search_lists_readings_and_window_targets_as_strings(api: httpx.Client) -> None:
    recorded = SIMPLEJSON["endpoints"]["POST /search"]
    headers = recorded["request_headers"]
    assert api.post("/search", json=recorded["request_body_example"], headers=headers).json() == []
    everything = api.post("/search", json={"target": ""}, headers=headers).json()
    assert everything == ["HVAC2", "TH1", "HVAC2@1d", "TH1@1d", "Wtot.rest@1d"]
    assert api.post("/search", json={"target": "th1"}).json() == ["TH1", "TH1@1d"]
    assert api.post("/search", json={"target": "select metric"}).json() == everything


def test_the_recorded_query_gets_the_recorded_timeserie_and_table(api: httpx.Client) -> None:
    recorded = SIMPLEJSON["endpoints"]["POST /query"]
    answer = api.post("/query", json=recorded["request_body_example"])
    assert answer.status_code == 200, answer.text
    assert answer.json() == recorded["timeserie_response"] + recorded["table_response"]


def test_readings_are_downsampled_to_the_panel_width(api: httpx.Client) -> None:
    body = {
        "range": {"from": "2023-01-01T00:00:00.000Z", "to": "2023-01-02T00:00:00.000Z"},
        "intervalMs": HOUR,
        "maxDataPoints": 1800,
        "targets": [{"target": "TH1", "refId": "A"}],  # type defaults to timeserie
    }
    [series] = api.post("/query", json=body).json()
    # minute m of every hour holds m: each hourly average is 29.5
    assert series == {"target": "TH1", "datapoints": [[29.5, JAN_1 + h * HOUR] for h in range(24)]}
    body["intervalMs"] = 60_000
    body["range"]["to"] = "2023-01-01T00:10:00.000Z"
    [series] = api.post("/query", json=body).json()
    assert series["datapoints"] == [[float(m), JAN_1 + m * 60_000] for m in range(10)]


def test_hidden_and_placeholder_targets_are_left_out(api: httpx.Client) -> None:
    body = {
        "range": {"from": JAN_1, "to": JAN_1 + 3 * DAY},
        "targets": [
            {"target": "TH1@1d", "refId": "A", "hide": True},
            {"target": "select metric", "refId": "B"},
            {"target": "HVAC2@1d", "refId": "C", "type": "table"},
        ],
    }
    assert api.post("/query", json=body).json() == SIMPLEJSON["endpoints"]["POST /query"]["table_response"]


@pytest.mark.parametrize(
    ("change", "status", "message"),
    [
        ({"targets": [{"target": "nope", "refId": "A"}]}, 400, "unknown target 'nope'"),
        ({"range": {"from": "yesterday", "to": "2023-01-02T00:00:00Z"}}, 400, "range.from: time 'yesterday'"),
        ({"range": {"from": JAN_1 + DAY, "to": JAN_1}}, 400, "must be before range.to"),
        ({"targets": [{"target": "TH1", "type": "graph"}]}, 422, "timeserie"),
    ],
)
def test_bad_queries_get_a_precise_error(
    api: httpx.Client, change: dict[str, Any], status: int, message: str
) -> None:
    body = {"range": {"from": JAN_1, "to": JAN_1 + DAY}, "targets": [{"target": "TH1"}]} | change
    answer = api.post("/query", json=body)
    assert answer.status_code == status
    assert message in answer.text


def test_the_seed_projects_dashboard_runs_unchanged(api: httpx.Client) -> None:
    """Its panels use the seed backend's target names; all but its late-readings panel are served."""
    answered = {}
    for panel in DASHBOARD["panels"]:
        for target in panel["targets"]:
            body = {"range": DASHBOARD["time"], "maxDataPoints": 500, "targets": [target]}
            answer = api.post("/query", json=body)
            answered[target["target"]] = answer.json() if answer.status_code == 200 else answer.status_code
    assert answered.pop("late_rejected") == 400
    assert answered.pop("Wtot_AggDayRest") == [
        {"target": "Wtot_AggDayRest", "datapoints": [[3.0, JAN_1], [-1.0, JAN_1 + DAY]]}
    ]
    assert answered.pop("HVAC2_aggr") == SIMPLEJSON["endpoints"]["POST /query"]["table_response"]
    assert answered.pop("TH1_aggr") == SIMPLEJSON["endpoints"]["POST /query"]["timeserie_response"]
    [raw] = answered.pop("TH1_raw")
    # 70.5 h of minutes merged into at most 500 steps of 9 minutes (minute m of each hour holds m)
    assert raw["target"] == "TH1_raw"
    assert len(raw["datapoints"]) == 470
    assert raw["datapoints"][:2] == [[4.0, JAN_1], [13.0, JAN_1 + 9 * 60_000]]
    assert answered == {}


def test_alerts_come_back_as_annotations_echoing_the_request(api: httpx.Client) -> None:
    recorded = SIMPLEJSON["endpoints"]["POST /annotations"]
    request = recorded["request_body_example"]
    assert api.post("/annotations", json=request).json() == []  # "#deploy" names no datastream or rule
    annotation = request["annotation"] | {"query": "boiler-*"}
    body = {"range": {"from": "2023-01-01T00:00:00Z", "to": "2023-01-02T00:00:00Z"}, "annotation": annotation}
    answer = api.post("/annotations", json=body).json()
    assert set(answer[0]) >= set(recorded["response_item"])
    assert [(a["annotation"], a["time"], a["timeEnd"], a["tags"]) for a in answer] == [
        (annotation, JAN_1 + HOUR, JAN_1 + 3 * HOUR, ["overheat", "boiler-1", "closed"]),
        (annotation, JAN_1 + 5 * HOUR, JAN_1 + 5 * HOUR, ["overheat", "boiler-2", "open"]),
    ]
    assert answer[0]["title"] == "overheat: boiler-1 closed"
    assert "max 104.0" in answer[0]["text"]
    by_rule = api.post("/annotations", json=body | {"annotation": {"query": "overheat"}}).json()
    assert len(by_rule) == 2
    (silence,) = api.post("/annotations", json=body | {"annotation": {"query": "silent"}}).json()
    assert silence["text"] == "no data for 3600 s (allowed 900 s)"


def test_ad_hoc_filter_keys_and_values(api: httpx.Client) -> None:
    assert api.post("/tag-keys", json={}).json() == [{"type": "string", "text": "datastream"}]
    assert api.post("/tag-values", json={"key": "datastream"}).json() == [{"text": "HVAC2"}, {"text": "TH1"}]
    assert "unknown tag key 'City'" in api.post("/tag-values", json={"key": "City"}).text


def test_browsers_may_call_it_directly_when_cors_allows(api: httpx.Client) -> None:
    expected = SIMPLEJSON["endpoints"]["POST /annotations"]["cors_if_direct_mode"]
    preflight = {
        "Origin": "http://grafana.example",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "accept, content-type",
    }
    answer = api.options("/annotations", headers=preflight)
    assert answer.status_code == 200
    assert answer.headers["Access-Control-Allow-Origin"] == expected["Access-Control-Allow-Origin"]
    assert "POST" in answer.headers["Access-Control-Allow-Methods"]
    allowed = answer.headers["Access-Control-Allow-Headers"].lower()
    assert all(h.strip() in allowed for h in expected["Access-Control-Allow-Headers"].split(","))


# JSON API and Infinity datasources query the REST API with their time macros filled in


def series(platform: EmbeddedPlatform, start: str, end: str) -> dict[str, Any]:
    assert platform.api is not None
    params = {"datastream": "TH1", "from": start, "to": end, "points": 10}
    answer = httpx.get(platform.api.url + "/api/v1/series", params=params)
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


def test_the_time_macros_in_ms_seconds_and_iso_give_the_same_series(platform: EmbeddedPlatform) -> None:
    start, end = JAN_1 + 90 * 60_000, JAN_1 + 10 * HOUR  # 01:30 to 10:00
    as_ms = series(platform, str(start), str(end))  # Infinity ${__from} / ${__to}
    as_seconds = series(platform, str(start // 1000), str(end // 1000))  # JSON API $__unixEpochFrom()
    as_iso = series(platform, "2023-01-01T01:30:00.000Z", "2023-01-01T10:00:00.000Z")  # $__isoFrom()
    assert as_ms == as_seconds == as_iso
    assert as_ms["resolution"] == "1m"  # 510 minutes ≥ 10 points; hours would give only 8
    points = as_ms["points"]
    assert len(points) == 510
    assert points[0]["time"] == "2023-01-01T01:30:00Z"
    assert points[0]["value"] == 30.0


def test_the_infinity_macro_outputs_are_accepted_as_range_bounds(platform: EmbeddedPlatform) -> None:
    cases = {c["input"]: c["output"] for c in INFINITY["infinity_plugin"]["url_macro_cases"]}
    start = cases["${__timeFrom:date:iso}"]  # 2020-07-13T20:19:09.254Z
    as_iso = series(platform, start, "2023-01-02T00:00:00Z")
    as_ms = series(platform, cases["${__timeFrom}"], "1672617600000")
    as_seconds = series(platform, cases["${__timeFrom:date:seconds}"], "1672617600")
    assert as_iso == as_ms
    assert as_seconds["from"] == "2020-07-13T20:19:09Z"  # whole seconds: the milliseconds are gone
    assert as_seconds["points"] == as_ms["points"] != []


def test_the_series_has_the_shape_json_api_fields_select(platform: EmbeddedPlatform) -> None:
    """`$.points[*].time` all strings (parsed as dates) and `$.points[*].value` all numbers, same length."""
    example = INFINITY["json_api_plugin"]["example_response_shape_for_platform"]
    answer = series(platform, "2023-01-01T00:00:00Z", "2023-01-04T00:00:00Z")
    assert set(example["points"][0]) <= set(answer["points"][0])
    assert all(isinstance(p["time"], str) and isinstance(p["value"], float) for p in answer["points"])
    assert answer["resolution"] == "1h"
    assert len(answer["points"]) == 72


# The Grafana files shipped in deploy/


DEPLOY = Path(__file__).parents[2] / "deploy"


def test_the_shipped_dashboard_is_answered_by_its_datasources(
    platform: EmbeddedPlatform, api: httpx.Client
) -> None:
    assert platform.storage is not None
    assert platform.api is not None
    dashboard = json.loads((DEPLOY / "grafana" / "dashboards" / "iotstream.json").read_text())
    provisioned = yaml.safe_load(
        (DEPLOY / "grafana" / "provisioning" / "datasources" / "iotstream.yaml").read_text()
    )
    datasources = {d["uid"]: d for d in provisioned["datasources"]}
    seed_house(platform.storage)
    metrics = {
        family.name
        for family in text_string_to_metric_families(httpx.get(platform.api.url + "/metrics").text)
    }

    simplejson = prometheus = 0
    for panel in dashboard["panels"]:
        source = datasources[panel["datasource"]["uid"]]
        for target in panel["targets"]:
            if source["type"] == "prometheus":
                prometheus += 1
                assert set(re.findall(r"iotstream_\w+?(?=_total|_bucket|\b)", target["expr"])) <= metrics
                continue
            assert source["url"].endswith("/grafana")
            assert source["type"] == "grafana-simple-json-datasource"
            simplejson += 1
            body = {
                "range": {"from": JAN_1, "to": JAN_1 + 3 * DAY},
                "maxDataPoints": 500,
                "targets": [target],
            }
            [answer] = api.post("/query", json=body).json()
            assert answer.get("datapoints") or answer.get("rows"), target
    assert simplejson >= 8
    assert prometheus >= 3


def seed_house(storage: BaseStorage) -> None:
    names = ("TH2", "HVAC1", "MiAC1", "MiAC2")
    storage.write_observations(
        [Observation(n, JAN_1 + h * HOUR, 1.0, JAN_1, f"{n}{h}") for n in names for h in range(48)]
    )
    meters = ("Etot", "Etot.diff", "Etot.rest", "Wtot.diff")
    storage.write_aggregates([day(name, JAN_1 + d * DAY, 2.0) for name in meters for d in range(2)])

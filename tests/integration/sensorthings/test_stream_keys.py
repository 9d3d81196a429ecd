"""Names are not keys: Datastreams named alike keep separate readings, and a renamed Datastream keeps its
readings, daily values and alerts, before and after a restart. History is data: old readings are
accepted on every path unless a raw tier is configured, and then refused at once with the reason."""

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from iotstream.config import Settings, load_settings
from iotstream.embedded import EmbeddedPlatform

from .test_errors import OBSERVED, SENSOR, _datastream

DAILY = {"type": "daily_meters", "name": "daily", "aggregate": {"Temperature": "max"}}
OVERHEAT = {"type": "threshold", "name": "overheat", "datastreams": ["Temperature"], "above": 100.0}


def _create(sta: httpx.Client, thing: str, name: str, **extra: Any) -> dict[str, Any]:
    created = sta.post("/Datastreams", json=_datastream({"name": thing}, SENSOR, OBSERVED, name) | extra)
    assert created.status_code == 201, created.text
    document: dict[str, Any] = sta.get(created.headers["location"].split("/v1.1", 1)[1]).json()
    return document


def _observe(sta: httpx.Client, datastream_id: int, time_iso: str, result: float) -> None:
    body = {"phenomenonTime": time_iso, "result": result}
    created = sta.post(f"/Datastreams({datastream_id})/Observations", json=body)
    assert created.status_code == 201, created.text


def _results(sta: httpx.Client, datastream_id: int) -> list[Any]:
    page = sta.get(f"/Datastreams({datastream_id})/Observations?$orderby=phenomenonTime").json()
    return [observation["result"] for observation in page["value"]]


def _wait_for(what: str, found: Callable[[], Any]) -> Any:
    deadline = time.monotonic() + 30
    while not (value := found()):
        assert time.monotonic() < deadline, f"{what} never came"
        time.sleep(0.1)
    return value


def test_datastreams_named_alike_on_two_things_keep_separate_readings(sta: httpx.Client) -> None:
    first = _create(sta, "Thing 1", "Temperature")
    second = _create(sta, "Thing 2", "Temperature")
    assert first["properties"] == {"key": "Temperature"}
    assert second["properties"] == {"key": f"Temperature/{second['@iot.id']}"}
    _observe(sta, first["@iot.id"], "2026-11-01T10:00:00Z", 20.0)
    _observe(sta, second["@iot.id"], "2026-11-01T10:00:00Z", 30.0)
    _observe(sta, second["@iot.id"], "2026-11-01T10:01:00Z", 31.0)

    assert _results(sta, first["@iot.id"]) == [20.0]
    assert _results(sta, second["@iot.id"]) == [30.0, 31.0]
    named = sta.get("/Datastreams?$filter=name eq 'Temperature'&$count=true").json()
    assert named["@iot.count"] == 2
    by_key = sta.get(f"/Datastreams?$filter=properties/key eq '{second['properties']['key']}'").json()
    assert [d["@iot.id"] for d in by_key["value"]] == [second["@iot.id"]]


def test_a_key_given_in_properties_is_kept_and_readings_sent_to_it_are_the_datastreams(
    platform: EmbeddedPlatform, sta: httpx.Client
) -> None:
    assert platform.api is not None
    made = _create(sta, "Boiler", "Boiler temperature", properties={"key": "boiler-1/t", "floor": 2})
    assert made["properties"] == {"key": "boiler-1/t", "floor": 2}
    reading = {"datastream": "boiler-1/t", "time": "2026-11-01T10:00:00Z", "value": 55.5}
    assert httpx.post(f"{platform.api.url}/api/v1/readings", json=reading).status_code == 202
    _wait_for("the reading", lambda: _results(sta, made["@iot.id"]))
    assert _results(sta, made["@iot.id"]) == [55.5]
    # properties replaced without the key keep it; the key itself never changes
    assert sta.patch(f"/Datastreams({made['@iot.id']})", json={"properties": {"floor": 3}}).status_code == 200
    assert sta.get(f"/Datastreams({made['@iot.id']})/properties").json() == {
        "properties": {"floor": 3, "key": "boiler-1/t"}
    }


def _settings(tmp_path: Path, **extra: Any) -> Settings:
    return load_settings(data_dir=tmp_path, api={"port": 0}, jobs=[DAILY, OVERHEAT], **extra)


def test_a_renamed_datastream_keeps_its_readings_daily_values_and_alerts_across_a_restart(
    tmp_path: Path,
) -> None:
    with EmbeddedPlatform(_settings(tmp_path)) as platform:
        assert platform.api is not None
        with httpx.Client(base_url=platform.api.url, timeout=30) as api:
            sta = httpx.Client(base_url=f"{platform.api.url}/v1.1", timeout=30)
            datastream = _create(sta, "Boiler", "Temperature")["@iot.id"]
            for hour, value in enumerate([90.0, 120.0, 95.0]):  # one overheat episode on 2024-01-01
                _observe(sta, datastream, f"2024-01-01T0{hour}:00:00Z", value)
            _observe(sta, datastream, "2024-01-02T00:00:00Z", 80.0)  # closes the day
            before = _history(api, sta, datastream)
            rename = sta.patch(f"/Datastreams({datastream})", json={"name": "Boiler flow temperature"})
            assert rename.status_code == 200, rename.text
            assert _history(api, sta, datastream) == before
            sta.close()
    assert before["observations"] == [90.0, 120.0, 95.0, 80.0]
    assert before["daily"] == [("2024-01-01T00:00:00Z", 120.0)]
    assert before["alerts"] == [("2024-01-01T01:00:00Z", 120.0, "closed")]

    with EmbeddedPlatform(_settings(tmp_path)) as platform:
        assert platform.api is not None
        with httpx.Client(base_url=platform.api.url, timeout=30) as api:
            sta = httpx.Client(base_url=f"{platform.api.url}/v1.1", timeout=30)
            assert sta.get(f"/Datastreams({datastream})/name").json() == {"name": "Boiler flow temperature"}
            assert _history(api, sta, datastream) == before
            listed = {row["key"]: row["name"] for row in api.get("/api/v1/datastreams").json()}
            assert listed["Temperature"] == "Boiler flow temperature"
            sta.close()


def _history(api: httpx.Client, sta: httpx.Client, datastream: int) -> dict[str, list[Any]]:
    """What a user reaches of the Datastream: its Observations, daily values and alert episodes."""
    key = sta.get(f"/Datastreams({datastream})/properties").json()["properties"]["key"]
    daily = _wait_for(
        "the daily value",
        lambda: api.get("/api/v1/aggregates", params={"datastream": key, "window": "1d"}).json(),
    )
    closed = {"datastream": key, "state": "closed"}
    alerts = _wait_for("the closed episode", lambda: api.get("/api/v1/alerts", params=closed).json())
    return {
        "observations": _results(sta, datastream),
        "daily": [(row["start"], row["value"]) for row in daily],
        "alerts": [(row["start"], row["max"], row["state"]) for row in alerts],
    }


def test_a_reading_of_any_age_is_stored_on_every_path(platform: EmbeddedPlatform, sta: httpx.Client) -> None:
    assert platform.api is not None
    datastream = _create(sta, "Old house", "Temperature")["@iot.id"]
    _observe(sta, datastream, "1999-06-01T12:00:00Z", 18.5)
    many = {"Datastream": {"@iot.id": datastream}, "components": ["phenomenonTime", "result"]}
    many |= {"dataArray": [["1970-01-01T00:00:00Z", 1.0], ["2015-03-01T00:00:00Z", 2.0]]}
    created = sta.post("/CreateObservations", json=[many])
    assert created.status_code == 201, created.text
    reading = {"datastream": "Temperature", "time": "1985-05-05T05:05:05Z", "value": 3.0}
    assert httpx.post(f"{platform.api.url}/api/v1/readings", json=reading).json() == {
        "accepted": 1,
        "rejected": [],
    }
    stored = _wait_for(
        "four readings", lambda: len(_results(sta, datastream)) == 4 and _results(sta, datastream)
    )
    assert stored == [1.0, 3.0, 18.5, 2.0]
    assert sta.get(f"/Datastreams({datastream})/Observations?$filter=year(phenomenonTime) eq 1999").json()[
        "value"
    ][0]["phenomenonTime"] == ("1999-06-01T12:00:00Z")


def test_with_a_raw_tier_configured_a_too_old_reading_is_refused_at_once_with_the_tier(
    tmp_path: Path,
) -> None:
    settings = _settings(tmp_path, storage={"retention": {"raw": "30d"}})
    with EmbeddedPlatform(settings) as platform:
        assert platform.api is not None
        sta = httpx.Client(base_url=f"{platform.api.url}/v1.1", timeout=30)
        datastream = _create(sta, "Boiler", "Temperature")["@iot.id"]
        started = time.monotonic()
        refused = sta.post(
            f"/Datastreams({datastream})/Observations",
            json={"phenomenonTime": "2024-01-01T00:00:00Z", "result": 1},
        )
        assert time.monotonic() - started < 2  # answered at once, not after waiting for the store
        assert refused.status_code == 400
        assert "the raw tier keeps 30 days" in refused.json()["message"]
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        readings = [
            {"datastream": "Temperature", "time": "2024-01-01T00:00:00Z", "value": 1},
            {"datastream": "Temperature", "time": now, "value": 2},
        ]
        answer = httpx.post(f"{platform.api.url}/api/v1/readings", json=readings).json()
        assert answer["accepted"] == 1
        [rejected] = answer["rejected"]
        assert rejected["index"] == 0
        assert "before the raw retention horizon" in rejected["error"]
        assert "the raw tier keeps 30 days" in rejected["error"]
        sta.close()


def test_a_key_of_a_request_that_failed_is_not_known_to_ingestion(
    platform: EmbeddedPlatform, sta: httpx.Client
) -> None:
    assert platform.api is not None
    body = _datastream({"name": "Boiler"}, SENSOR, OBSERVED, "ghost")
    body["Observations"] = [{"result": 1, "phenomenonTime": "yesterday"}]  # refused as it is sent
    assert sta.post("/Datastreams", json=body).status_code == 400
    reading = {"datastream": "ghost", "time": "2026-11-01T10:00:00Z", "value": 1.0}
    assert httpx.post(f"{platform.api.url}/api/v1/readings", json=reading).status_code == 202
    listed = {row["key"]: row for row in httpx.get(f"{platform.api.url}/api/v1/datastreams").json()}
    assert listed["ghost"]["placeholder"] is True  # registered as the reading arrived, not taken as known


def test_a_datastreams_phenomenon_time_spans_its_readings_however_they_came(
    platform: EmbeddedPlatform, sta: httpx.Client
) -> None:
    assert platform.api is not None
    made = _create(sta, "Boiler", "Temperature")
    assert (made["phenomenonTime"], made["resultTime"]) == (None, None)
    _observe(sta, made["@iot.id"], "2024-01-01T10:00:00Z", 1.0)
    spans = sta.get(f"/Datastreams({made['@iot.id']})").json()
    assert spans["phenomenonTime"] == "2024-01-01T10:00:00Z/2024-01-01T10:00:00Z"  # at once, for REST
    readings = [
        {"datastream": "Temperature", "time": "1999-05-05T00:00:00Z", "value": 2.0},
        {"datastream": "Temperature", "time": "2025-02-02T00:00:00Z", "value": 3.0},
    ]
    assert httpx.post(f"{platform.api.url}/api/v1/readings", json=readings).status_code == 202
    wide = "1999-05-05T00:00:00Z/2025-02-02T00:00:00Z"
    _wait_for(
        "the widened span",
        lambda: sta.get(f"/Datastreams({made['@iot.id']})/phenomenonTime").json() == {"phenomenonTime": wide},
    )
    old = sta.get("/Datastreams?$filter=phenomenonTime lt 2000-01-01T00:00:00Z&$select=name").json()["value"]
    assert old == [{"name": "Temperature"}]
    ignored = sta.patch(
        f"/Datastreams({made['@iot.id']})",
        json={"phenomenonTime": "2030-01-01T00:00:00Z/2030-01-02T00:00:00Z"},
    )
    assert ignored.status_code == 200  # kept by the service, as FROST does
    assert sta.get(f"/Datastreams({made['@iot.id']})/phenomenonTime").json() == {"phenomenonTime": wide}


def test_a_key_named_after_the_id_that_a_device_already_uses_gets_a_suffix(
    platform: EmbeddedPlatform, sta: httpx.Client
) -> None:
    assert platform.api is not None
    first = _create(sta, "Thing 1", "Temperature")
    squatter = {
        "datastream": f"Temperature/{first['@iot.id'] + 2}",
        "time": "2026-11-01T10:00:00Z",
        "value": 1,
    }
    assert (
        httpx.post(f"{platform.api.url}/api/v1/readings", json=squatter).status_code == 202
    )  # its placeholder
    second = _create(sta, "Thing 2", "Temperature")
    assert second["@iot.id"] == first["@iot.id"] + 2
    assert second["properties"]["key"].startswith(f"{squatter['datastream']}~")

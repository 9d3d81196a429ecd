"""Single Observations changed and deleted through SensorThings: the store's raw rows, 1m/1h/1d rollups
and latest value afterwards equal a recompute from the readings that remain."""

from typing import Any

import httpx

from iotstream._units import iso_ms
from iotstream.embedded import EmbeddedPlatform
from iotstream.models import Observation
from tests.contract.storage_reference import Readings, assert_store_holds

from .test_errors import OBSERVED, SENSOR, _datastream

T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z
MINUTE, HOUR = 60_000, 3_600_000
TIMES = [T0, T0 + 20_000, T0 + MINUTE, T0 + HOUR, T0 + HOUR + 5 * MINUTE, T0 + 26 * HOUR]


def _setup(sta: httpx.Client) -> tuple[int, str, list[str]]:
    created = sta.post("/Datastreams", json=_datastream({"name": "boiler"}, SENSOR, OBSERVED, "boiler-t"))
    assert created.status_code == 201, created.text
    datastream, key = created.json()["@iot.id"], created.json()["properties"]["key"]
    paths = []
    for index, time_ms in enumerate(TIMES):
        body = {"phenomenonTime": iso_ms(time_ms), "result": float(10 + index)}
        answer = sta.post(f"/Datastreams({datastream})/Observations", json=body)
        assert answer.status_code == 201, answer.text
        paths.append(answer.headers["location"].split("/v1.1", 1)[1])
    return datastream, key, paths


def _expected(platform: EmbeddedPlatform, key: str) -> Readings:
    """What the store holds now, as the reference to change by hand."""
    assert platform.storage is not None
    return {(key, o.phenomenon_time_ms): o for o in platform.storage.raw(key, 0, 2**62)}


def test_deleting_observations_recomputes_rollups_and_the_latest_value(
    platform: EmbeddedPlatform, sta: httpx.Client
) -> None:
    assert platform.storage is not None
    _, key, paths = _setup(sta)
    expected = _expected(platform, key)
    assert len(expected) == len(TIMES)

    for index in (1, 5, 3):  # inside a minute, the newest (latest changes), the only one of an hour's first
        assert sta.delete(paths[index]).status_code == 200
        del expected[(key, TIMES[index])]
        assert_store_holds(platform.storage, expected, [key], 0, 2**62)
        assert sta.get(paths[index]).status_code == 404
    assert platform.storage.latest([key])[key].result == 14.0  # the one before the deleted newest

    again = sta.delete(paths[1])
    assert (again.status_code, again.json()["message"]) == (
        404,
        f"no Observation {paths[1].split('(')[1][:-1]}",
    )
    remaining = sta.get(
        f"{paths[0].split('Observations')[0]}Datastreams?$expand=Observations($select=result)"
    )
    assert [o["result"] for o in remaining.json()["value"][0]["Observations"]] == [10, 12, 14]


def test_changing_an_observation_rewrites_its_reading_and_its_rollups(
    platform: EmbeddedPlatform, sta: httpx.Client
) -> None:
    assert platform.storage is not None
    _, key, paths = _setup(sta)
    expected = _expected(platform, key)

    patched = sta.patch(paths[2], json={"result": 99.5, "parameters": {"corrected": True}})
    assert patched.status_code == 200, patched.text
    old = expected[(key, TIMES[2])]
    expected[(key, TIMES[2])] = _with_result(_stored(platform, key, TIMES[2]), 99.5)
    assert old.result == 12.0
    assert_store_holds(platform.storage, expected, [key], 0, 2**62)
    document = sta.get(paths[2]).json()
    assert (document["result"], document["parameters"]) == (99.5, {"corrected": True})

    put: dict[str, Any] = {"phenomenonTime": iso_ms(TIMES[5]), "result": 1}
    assert sta.put(paths[5], json=put).status_code == 200
    expected[(key, TIMES[5])] = _with_result(_stored(platform, key, TIMES[5]), 1.0)
    assert_store_holds(platform.storage, expected, [key], 0, 2**62)

    moved = sta.patch(paths[0], json={"phenomenonTime": "2030-01-01T00:00:00Z"})
    assert moved.status_code == 400
    assert "its phenomenonTime is its id and cannot change" in moved.json()["message"]
    patch_ops = [{"op": "replace", "path": "/result", "value": 7}]
    answer = sta.patch(paths[0], json=patch_ops, headers={"content-type": "application/json-patch+json"})
    assert answer.status_code == 200, answer.text
    assert sta.get(paths[0]).json()["result"] == 7


def _stored(platform: EmbeddedPlatform, key: str, time_ms: int) -> Observation:
    assert platform.storage is not None
    [reading] = platform.storage.raw(key, time_ms, time_ms + 1)
    return reading


def _with_result(reading: Observation, result: float) -> Observation:
    assert reading.result == result, "the store holds the changed result"
    return reading

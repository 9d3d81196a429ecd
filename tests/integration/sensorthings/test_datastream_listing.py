"""`/api/v1/datastreams` (and the dashboard's overview) read the catalog: name, unit, Thing, placeholder."""

import httpx

from iotstream.embedded import EmbeddedPlatform

from .test_errors import OBSERVED, SENSOR, _datastream


def test_the_listing_shows_each_datastreams_unit_and_thing_from_the_catalog(
    platform: EmbeddedPlatform, sta: httpx.Client
) -> None:
    assert platform.api is not None
    created = sta.post("/Datastreams", json=_datastream({"name": "boiler"}, SENSOR, OBSERVED, "boiler-t"))
    api = httpx.Client(base_url=platform.api.url)
    reading = {"datastream": "pump-7", "time": "2026-11-01T10:00:00Z", "value": 3.5}
    assert api.post("/api/v1/readings", json=reading).status_code == 202
    listing = {row["key"]: row for row in api.get("/api/v1/datastreams").json()}
    assert listing["boiler-t"] == {
        "key": "boiler-t",
        "name": "boiler-t",
        "latest": None,
        "aggregate": None,
        "registry_id": created.json()["@iot.id"],
        "unit": "degC",
        "thing": "boiler",
        "placeholder": False,
    }
    pump = listing["pump-7"]
    assert (pump["name"], pump["unit"], pump["thing"], pump["placeholder"]) == (
        "pump-7",
        None,
        "pump-7",
        True,
    )
    unit = {"unitOfMeasurement": {"symbol": "bar"}}
    assert sta.patch(f"/Datastreams({pump['registry_id']})", json=unit).status_code == 200
    overview = {row["key"]: row for row in api.get("/api/v1/overview").json()["datastreams"]}
    assert overview["pump-7"]["unit"] == "bar"
    api.close()

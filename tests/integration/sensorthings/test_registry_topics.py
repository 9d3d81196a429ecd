"""The catalog published to compacted registry topics, and a stream job joining readings with them."""

import time
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from iotstream.config import load_settings
from iotstream.embedded import EmbeddedPlatform
from iotstream.log.topics import OBSERVATIONS
from iotstream.log.types import TopicPartition, TopicSpec
from iotstream.processing.job import Job
from iotstream.processing.runner import JobRunner
from iotstream.processing.tables import TableReader
from iotstream.registry.catalog import open_catalog
from iotstream.registry.models import Thing
from iotstream.roles.registry import RegistryRole

from .test_errors import OBSERVED, SENSOR, _datastream

T0 = 1_750_000_000_000
HOUSE = {
    "name": "boiler room",
    "description": "",
    "encodingType": "application/geo+json",
    "location": {"type": "Point", "coordinates": [4.35, 50.85]},
}


def _tables(platform: EmbeddedPlatform) -> dict[str, dict[str, Any]]:
    assert platform.log is not None
    tables: dict[str, dict[str, Any]] = {}
    topics = [t for t in platform.log.list_topics() if t.startswith("registry.")]
    TableReader(platform.log, topics, tables).close()
    return tables


def _boiler(sta: httpx.Client, name: str = "boiler-temp") -> tuple[int, int]:
    """A Thing with a Location and one Datastream: (thing id, datastream id)."""
    thing = {"name": "boiler", "description": "", "Locations": [HOUSE]}
    created = sta.post("/Datastreams", json=_datastream(thing, SENSOR, OBSERVED, name))
    assert created.status_code == 201, created.text
    datastream = sta.get(created.headers["location"] + "?$expand=Thing").json()
    return datastream["Thing"]["@iot.id"], datastream["@iot.id"]


def test_a_created_datastream_is_published_with_its_thing_location_and_unit(
    platform: EmbeddedPlatform, sta: httpx.Client
) -> None:
    thing_id, datastream_id = _boiler(sta)
    tables = _tables(platform)
    record = tables["registry.datastreams"]["boiler-temp"]
    assert record["@iot.id"] == datastream_id
    assert record["unitOfMeasurement"]["symbol"] == "degC"
    assert record["Thing"]["name"] == "boiler"
    assert [loc["location"] for loc in record["Thing"]["Locations"]] == [HOUSE["location"]]
    assert record["Sensor"]["name"] == SENSOR["name"]
    assert record["ObservedProperty"]["definition"] == OBSERVED["definition"]
    thing = tables["registry.things"][str(thing_id)]
    assert (thing["@iot.id"], thing["name"]) == (thing_id, "boiler")
    location_id = record["Thing"]["Locations"][0]["@iot.id"]
    assert tables["registry.locations"][str(location_id)]["name"] == "boiler room"
    (history,) = tables["registry.historicallocations"].values()
    assert history["Thing"] == {"@iot.id": thing_id}


def test_changes_republish_the_datastreams_they_touch_and_deletes_leave_tombstones(
    platform: EmbeddedPlatform, sta: httpx.Client
) -> None:
    thing_id, datastream_id = _boiler(sta)
    location_id = sta.get(f"/Things({thing_id})/Locations").json()["value"][0]["@iot.id"]
    assert sta.patch(f"/Locations({location_id})", json={"name": "cellar"}).status_code == 200
    sensor_id = sta.get(f"/Datastreams({datastream_id})/Sensor").json()["@iot.id"]
    assert sta.patch(f"/Sensors({sensor_id})", json={"name": "PT100"}).status_code == 200
    record = _tables(platform)["registry.datastreams"]["boiler-temp"]
    assert record["Thing"]["Locations"][0]["name"] == "cellar"
    assert record["Sensor"]["name"] == "PT100"

    assert sta.delete(f"/Locations({location_id})").status_code == 200
    assert sta.delete(f"/Datastreams({datastream_id})").status_code == 200
    tables = _tables(platform)
    assert "boiler-temp" not in tables["registry.datastreams"]
    assert str(location_id) not in tables["registry.locations"]
    assert tables["registry.things"][str(thing_id)]["name"] == "boiler"
    assert sta.delete(f"/Things({thing_id})").status_code == 200
    tables = _tables(platform)
    assert tables["registry.things"] == {}
    assert tables["registry.historicallocations"] == {}  # deleted along with their Thing


def test_placeholders_registered_by_ingestion_are_published(
    platform: EmbeddedPlatform, sta: httpx.Client
) -> None:
    assert platform.api is not None
    reading = {"datastream": "pump-7", "time": T0, "value": 3.5}
    assert httpx.post(f"{platform.api.url}/api/v1/readings", json=reading).status_code == 202
    record = _tables(platform)["registry.datastreams"]["pump-7"]
    assert record["Thing"]["properties"] == {"placeholder": True}
    assert record["Sensor"]["name"] == "unknown (registered automatically)"


def test_a_publish_that_fails_does_not_fail_the_request_and_the_next_change_heals_the_topics(
    platform: EmbeddedPlatform, sta: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    thing_id, _ = _boiler(sta)
    role = platform.role("registry")
    assert isinstance(role, RegistryRole)
    assert role.publisher is not None
    publisher = role.publisher

    def log_down(*_args: Any, **_kwargs: Any) -> None:
        raise OSError("log unavailable")

    with monkeypatch.context() as patched:
        patched.setattr(publisher._producer, "produce", log_down)
        assert sta.patch(f"/Things({thing_id})", json={"name": "boiler A"}).status_code == 200
    assert _tables(platform)["registry.things"][str(thing_id)]["name"] == "boiler"  # not published yet
    sta.post("/Things", json={"name": "other"})
    tables = _tables(platform)
    assert tables["registry.things"][str(thing_id)]["name"] == "boiler A"
    assert tables["registry.datastreams"]["boiler-temp"]["Thing"]["name"] == "boiler A"
    assert {t["name"] for t in tables["registry.things"].values()} == {"boiler A", "other"}


def test_changes_made_while_the_platform_was_down_are_published_at_start(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path, api={"port": 0})
    with EmbeddedPlatform(settings) as platform:
        assert platform.api is not None
        with httpx.Client(base_url=f"{platform.api.url}/v1.1") as sta:
            thing_id, _ = _boiler(sta)
            spare = sta.post("/Things", json={"name": "spare"}).headers["location"]
    catalog = open_catalog(settings.registry.url)  # another writer: nobody publishes its changes
    with catalog.session(write=True) as session:
        thing = session.get(Thing, thing_id)
        assert thing is not None
        thing.name = "boiler B"
        session.delete(session.get(Thing, int(spare.rsplit("(", 1)[1].rstrip(")"))))
    catalog.close()
    with EmbeddedPlatform(settings) as platform:
        tables = _tables(platform)
    assert {t["name"] for t in tables["registry.things"].values()} == {"boiler B"}
    assert tables["registry.datastreams"]["boiler-temp"]["Thing"]["name"] == "boiler B"


def test_a_stream_job_joining_readings_with_the_registry_sees_a_renamed_thing(
    platform: EmbeddedPlatform, sta: httpx.Client, tmp_path: Path
) -> None:
    assert platform.log is not None
    assert platform.api is not None
    thing_id, _ = _boiler(sta)
    job = (
        Job("where", sources=[OBSERVATIONS])
        .join_table("registry.datastreams", lambda value, ds: (value, ds and ds["Thing"]["name"]))
        .to("where.out")
    )
    platform.log.create_topic(TopicSpec("where.out"))
    runner = JobRunner(job, platform.log, tmp_path / "job-state", checkpoint_interval_ms=50)
    api = httpx.Client(base_url=platform.api.url)
    try:
        _send(api, runner, 1, {"datastream": "boiler-temp", "time": T0, "value": 71.5})
        assert sta.patch(f"/Things({thing_id})", json={"name": "boiler, cellar"}).status_code == 200
        _send(api, runner, 2, {"datastream": "boiler-temp", "time": T0 + 60_000, "value": 72.0})
        _send(api, runner, 3, {"datastream": "unregistered", "time": T0, "value": 1.0})
    finally:
        runner.close()
        api.close()
    out = sorted((r["value"][0], r["value"][1]) for r in _records(platform, "where.out"))
    assert out == [(1.0, "unregistered"), (71.5, "boiler"), (72.0, "boiler, cellar")]


def _send(api: httpx.Client, runner: JobRunner, events: int, reading: dict[str, Any]) -> None:
    assert api.post("/api/v1/readings", json=reading).status_code == 202
    deadline = time.monotonic() + 20
    while runner.events_in < events:
        assert time.monotonic() < deadline, "the job did not read the reading"
        runner.step(timeout_s=0.1)


def _records(platform: EmbeddedPlatform, topic: str) -> list[dict[str, Any]]:
    assert platform.log is not None
    consumer = platform.log.consumer()
    consumer.assign([TopicPartition(topic, 0)])
    records = consumer.poll(max_records=100, timeout_s=1)
    consumer.close()
    return [msgspec.json.decode(r.value or b"") for r in records]

"""Registrations reflected in a real catalog: the endpoint's Thing with its registration, a Datastream
per observed sensor value named and in the unit of the object registry, a placeholder completed, and
an update and a de-registration shown on the Thing."""

import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from iotstream.config import load_settings
from iotstream.ingest.lwm2m.config import Lwm2mSettings
from iotstream.ingest.lwm2m.links import parse_links
from iotstream.ingest.lwm2m.observer import Watch
from iotstream.ingest.lwm2m.registrations import Registrations
from iotstream.ingest.lwm2m.registry import Lwm2mRegistry
from iotstream.registry import models
from iotstream.registry.catalog import Catalog, open_catalog
from iotstream.registry.datastreams import DatastreamKeys


@pytest.fixture
def catalog(tmp_path: Path) -> Iterator[Catalog]:
    opened = open_catalog(f"sqlite:///{tmp_path}/registry.db")
    yield opened
    opened.close()


def _things(catalog: Catalog) -> dict[str, dict[str, Any]]:
    with catalog.session() as session:
        return {t.name: dict(t.properties or {}) for t in session.scalars(select(models.Thing))}


def _datastreams(catalog: Catalog) -> dict[str, tuple[str, str | None, str, str, str, bool]]:
    with catalog.session() as session:
        return {
            d.key: (
                d.name,
                (d.unit_of_measurement or {}).get("symbol"),
                d.thing.name,
                d.sensor.name,
                d.observed_property.name,
                d.placeholder,
            )
            for d in session.scalars(select(models.Datastream))
        }


def test_a_registration_is_a_thing_with_a_datastream_per_observed_sensor_value(catalog: Catalog) -> None:
    keys = DatastreamKeys(catalog)
    keys.register(["boiler-7/3304/0/5700"])  # a reading that came before the registration
    registrations = Registrations()
    links = "</1/0>, </3/0>, </3303/0>, </3303/1>, </3304/0>, </3341/0>"
    registration, records = registrations.register(
        {"ep": "boiler-7", "lt": "300", "b": "U", "lwm2m": "1.1"}, links, ("10.0.0.7", 56830), 1_000
    )
    registry = Lwm2mRegistry(catalog, keys)
    registry.reflect(records)
    temperature = ("boiler-7 Temperature Sensor Value", "Cel", "boiler-7", "boiler-7 /3303")
    humidity = ("boiler-7 Humidity Sensor Value", "%RH", "boiler-7", "boiler-7 /3304")
    assert _datastreams(catalog) == {
        "boiler-7/3303/0/5700": (*temperature, "Temperature Sensor Value", False),
        "boiler-7/3303/1/5700": (*temperature, "Temperature Sensor Value", False),
        "boiler-7/3304/0/5700": (*humidity, "Humidity Sensor Value", False),  # the placeholder, completed
    }
    assert all(keys.known(key) for key in _datastreams(catalog))
    lwm2m = _things(catalog)["boiler-7"]["lwm2m"]
    assert lwm2m == {
        "registered": True,
        "event": "new",
        "regId": registration.id,
        "links": links,
        "lifetime_s": 300,
        "binding": "U",
        "version": "1.1",
        "address": "10.0.0.7:56830",
        "time": 1_000,
    }

    updated = registrations.update(
        registration.id, {"lt": "600"}, "</1/0>, </3303/0>", ("10.0.0.8", 5683), 2_000
    )
    assert updated is not None
    registry.reflect([updated[1]])
    lwm2m = _things(catalog)["boiler-7"]["lwm2m"]
    assert (lwm2m["event"], lwm2m["lifetime_s"], lwm2m["address"], lwm2m["links"]) == (
        "update",
        600,
        "10.0.0.8:5683",
        "</1/0>, </3303/0>",
    )
    ended = registrations.deregister(registration.id, 3_000)
    assert ended is not None
    registry.reflect([ended])
    assert _things(catalog)["boiler-7"]["lwm2m"]["registered"] is False
    assert len(_datastreams(catalog)) == 3  # their readings keep their Datastreams


def test_a_datastream_a_user_made_for_the_key_is_left_as_it_is(catalog: Catalog) -> None:
    keys = DatastreamKeys(catalog)
    registry = Lwm2mRegistry(catalog, keys)
    _, records = Registrations().register({"ep": "oven"}, "</3303/0>", ("10.0.0.9", 5683), 1_000)
    registry.reflect(records)
    with catalog.session(write=True) as session:
        datastream = session.scalar(
            select(models.Datastream).where(models.Datastream.key == "oven/3303/0/5700")
        )
        assert datastream is not None
        datastream.name = "oven inside"
    registry.reflect(records)  # registering again
    assert _datastreams(catalog)["oven/3303/0/5700"][0] == "oven inside"
    assert list(_things(catalog)) == ["oven"]


def test_a_multidatastream_holding_the_key_is_left_as_it_is(catalog: Catalog) -> None:
    """Keys are unique over Datastreams and MultiDatastreams: registering must neither fail on it
    (rolling the Thing's registration back with it) nor take it over."""
    with catalog.session(write=True) as session:
        thing = models.Thing(name="oven", description="", tenant="default")
        sensor = models.Sensor(
            name="s", description="", encoding_type="text/plain", sensor_metadata="", tenant="default"
        )
        observed = models.ObservedProperty(name="t", definition="", description="", tenant="default")
        session.add(
            models.MultiDatastream(
                key="oven/3303/0/5700",
                name="oven multi",
                observation_type="http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_ComplexObservation",
                unit_of_measurements=[{"name": None, "symbol": None, "definition": None}],
                multi_observation_data_types=[
                    "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement"
                ],
                thing=thing,
                sensor=sensor,
                observed_properties=[observed],
                tenant="default",
            )
        )
    _, records = Registrations().register({"ep": "oven"}, "</3303/0>", ("10.0.0.9", 5683), 1_000)
    Lwm2mRegistry(catalog, DatastreamKeys(catalog)).reflect(records)
    assert _things(catalog)["oven"]["lwm2m"]["registered"] is True
    assert _datastreams(catalog) == {}


def test_observed_resources_are_configurable_per_object(catalog: Catalog, tmp_path: Path) -> None:
    """`[lwm2m] observe` names an object's resources (known to the object registry or not), an empty
    list none of them; other objects get `observe_default` where the registry knows the resource."""
    config = tmp_path / "iotstream.toml"
    config.write_text(
        '[lwm2m]\nobserve_default = [5700, 5601]\n[lwm2m.observe]\n"3303" = [5602, 7]\n"3304" = []\n'
    )
    settings = load_settings(config).lwm2m
    watch = Watch(tuple(settings.observe_default), {o: tuple(r) for o, r in settings.observe.items()})
    links = parse_links("</1/0>, </3303/0>, </3304/0>, </3300/2>, </3342>")
    assert watch.paths(links) == [(3303, 0, 5602), (3303, 0, 7), (3300, 2, 5700), (3300, 2, 5601)]
    _, records = Registrations().register({"ep": "lab"}, "</3303/0>", ("10.0.0.5", 5683), 1_000)
    Lwm2mRegistry(catalog, DatastreamKeys(catalog), watch).reflect(records)
    most = "Temperature Max Measured Value"
    assert _datastreams(catalog) == {
        "lab/3303/0/5602": (f"lab {most}", "Cel", "lab", "lab /3303", most, False),
        "lab/3303/0/7": ("lab LwM2M /3303/0/7", None, "lab", "lab /3303", "LwM2M /3303/0/7", False),
    }


def test_the_docs_example_is_a_valid_configuration() -> None:
    section = (Path(__file__).parents[4] / "docs/guides/send/lwm2m.md").read_text()
    example = section[section.index("```toml") + len("```toml") : section.index("```\n")]
    settings = Lwm2mSettings.model_validate(tomllib.loads(example)["lwm2m"])
    assert (settings.enabled, settings.observe) == (True, {3303: [5700, 5601, 5602], 3: [9], 3304: []})

"""SensorThings with tenants: each tenant's token reaches only its tenant's entities — in every
collection, through every link and $expand, in $filter paths across relations — and another tenant's
entity is "not found" whether it is read, changed, deleted or linked to.

The tenants of `test_tenants` create the same SensorThings entities (same names, same stream keys)
with results in their own value ranges, besides the Datastreams their readings registered.
"""

from typing import Any

import httpx
import pytest

from iotstream._units import iso_ms
from tests.integration.test_tenants import BASE, NAMES, T0, Tenants, bearer, tenants  # noqa: F401 - a fixture

SETS = {  # each entity set with the links it is listed with
    "Things": "Locations,HistoricalLocations,Datastreams($expand=Observations,Sensor,ObservedProperty)",
    "Locations": "Things,HistoricalLocations",
    "HistoricalLocations": "Thing,Locations",
    "Sensors": "Datastreams,MultiDatastreams",
    "ObservedProperties": "Datastreams,MultiDatastreams",
    "FeaturesOfInterest": "Observations",
    "Datastreams": "Thing,Sensor,ObservedProperty,Observations($expand=FeatureOfInterest)",
    "MultiDatastreams": "Thing,Sensor,ObservedProperties,Observations",
    "Observations": "Datastream,MultiDatastream,FeatureOfInterest",
}


def create_entities(api: httpx.Client, tenant: str) -> None:
    """A Thing at a Location with a Datastream (key "shared/meter") and three Observations, and a
    MultiDatastream, all by deep insert, named alike in every tenant."""
    base = BASE[tenant]
    thing = {
        "name": "boiler",
        "description": "the same in every tenant",
        "Locations": [
            {
                "name": "cellar",
                "description": "",
                "encodingType": "application/geo+json",
                "location": {"type": "Point", "coordinates": [8.0, 50.0]},
            }
        ],
        "Datastreams": [
            {
                "name": "meter",
                "description": "",
                "observationType": "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement",
                "unitOfMeasurement": {"name": "kWh", "symbol": "kWh", "definition": "kWh"},
                "properties": {"key": "shared/meter"},
                "Sensor": {"name": "meter", "description": "", "encodingType": "text/plain", "metadata": ""},
                "ObservedProperty": {"name": "energy", "definition": "energy", "description": ""},
                "Observations": [
                    {"phenomenonTime": iso_ms(T0 + i * 1000), "result": base + 700 + i} for i in range(3)
                ],
            }
        ],
        "MultiDatastreams": [
            {
                "name": "weather",
                "description": "",
                "observationType": "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_ComplexObservation",
                "multiObservationDataTypes": [
                    "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement"
                ],
                "unitOfMeasurements": [{"name": "C", "symbol": "C", "definition": "C"}],
                "Sensor": {
                    "name": "station",
                    "description": "",
                    "encodingType": "text/plain",
                    "metadata": "",
                },
                "ObservedProperties": [{"name": "temperature", "definition": "t", "description": ""}],
            }
        ],
    }
    answer = api.post("/v1.1/Things", json=thing)
    assert answer.status_code == 201, answer.text


def reachable(api: httpx.Client) -> dict[str, list[dict[str, Any]]]:
    """Every entity of every set, with its links expanded."""
    found = {}
    for name, expand in SETS.items():
        answer = api.get(f"/v1.1/{name}", params={"$top": "1000", "$expand": expand})
        assert answer.status_code == 200, (name, answer.text)
        found[name] = answer.json()["value"]
    return found


def results(value: Any) -> list[float]:
    """Every Observation result anywhere in a document."""
    if isinstance(value, dict):
        own = [value["result"]] if "result" in value and isinstance(value["result"], int | float) else []
        return own + [r for v in value.values() for r in results(v)]
    if isinstance(value, list):
        return [r for v in value for r in results(v)]
    return []


def ids(found: dict[str, list[dict[str, Any]]]) -> dict[str, set[Any]]:
    return {name: {entity["@iot.id"] for entity in entities} for name, entities in found.items()}


@pytest.fixture
def with_entities(tenants: Tenants) -> Tenants:  # noqa: F811 - the fixture imported above
    for tenant in BASE:
        with httpx.Client(base_url=tenants.url, headers=bearer(tenants.tokens[tenant])) as api:
            create_entities(api, tenant)
    return tenants


def test_each_tenant_reaches_only_its_own_entities(with_entities: Tenants) -> None:
    seen = {}
    for tenant in BASE:
        with httpx.Client(
            base_url=with_entities.url, headers=bearer(with_entities.tokens[f"{tenant}-reader"])
        ) as api:
            seen[tenant] = found = reachable(api)
        keys = sorted(d["properties"]["key"] for d in found["Datastreams"])
        assert keys == sorted([*NAMES, "shared/meter"])  # its readings' Datastreams and its own, by its names
        assert [t["name"] for t in found["Things"]].count("boiler") == 1
        assert len(found["MultiDatastreams"]) == 1
        values = results(found)
        assert len(values) >= 30
        leaks = [v for v in values if not BASE[tenant] <= v < BASE[tenant] + 1000]
        assert leaks == [], f"{tenant} reaches other tenants' Observations: {leaks[:10]}"
    for a in BASE:
        for b in BASE:
            if a != b:
                for name in SETS:
                    shared = ids(seen[a])[name] & ids(seen[b])[name]
                    assert shared == set(), f"{a} and {b} both reach {name} {shared}"


def test_filters_across_relations_stay_in_the_tenant(with_entities: Tenants) -> None:
    with httpx.Client(base_url=with_entities.url, headers=bearer(with_entities.tokens["acme"])) as api:
        by_thing = api.get("/v1.1/Datastreams", params={"$filter": "Thing/name eq 'boiler'"}).json()["value"]
        assert [d["properties"]["key"] for d in by_thing] == ["shared/meter"]
        by_results = api.get(
            "/v1.1/Things",
            params={"$filter": "Locations/name eq 'cellar'", "$expand": "Datastreams"},
        ).json()["value"]
        assert [t["name"] for t in by_results] == ["boiler"]
        sensors = api.get("/v1.1/Sensors", params={"$filter": "Datastreams/Thing/name eq 'boiler'"}).json()
        assert [s["name"] for s in sensors["value"]] == ["meter"]
        meter = api.get("/v1.1/Datastreams", params={"$filter": "properties/key eq 'shared/meter'"}).json()
        [own] = meter["value"]
        observations = api.get(f"/v1.1/Datastreams({own['@iot.id']})/Observations").json()["value"]
        assert sorted(o["result"] for o in observations) == [1700, 1701, 1702]


def test_another_tenants_entities_are_not_found_to_read_change_delete_or_link(with_entities: Tenants) -> None:
    with httpx.Client(base_url=with_entities.url, headers=bearer(with_entities.tokens["globex"])) as api:
        theirs = reachable(api)
    thing = next(t for t in theirs["Things"] if t["name"] == "boiler")["@iot.id"]
    datastream = next(d for d in theirs["Datastreams"] if d["properties"]["key"] == "shared/meter")
    observation = theirs["Observations"][0]["@iot.id"]
    with httpx.Client(base_url=with_entities.url, headers=bearer(with_entities.tokens["acme"])) as api:
        for path in (
            f"/v1.1/Things({thing})",
            f"/v1.1/Things({thing})/Datastreams",
            f"/v1.1/Datastreams({datastream['@iot.id']})/Observations",
            f"/v1.1/Observations('{observation}')"
            if isinstance(observation, str)
            else f"/v1.1/Observations({observation})",
            f"/v1.1/Sensors({datastream['Sensor']['@iot.id']})",
        ):
            assert api.get(path).status_code == 404, path
        assert api.patch(f"/v1.1/Things({thing})", json={"name": "taken"}).status_code == 404
        assert api.delete(f"/v1.1/Things({thing})").status_code == 404
        linked = api.post(
            "/v1.1/Datastreams",
            json={
                "name": "intruder",
                "description": "",
                "observationType": "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement",
                "unitOfMeasurement": {"name": "", "symbol": "", "definition": ""},
                "Thing": {"@iot.id": thing},
                "Sensor": {"@iot.id": datastream["Sensor"]["@iot.id"]},
                "ObservedProperty": {"@iot.id": datastream["ObservedProperty"]["@iot.id"]},
            },
        )
        assert linked.status_code == 404
        posted = api.post(
            f"/v1.1/Datastreams({datastream['@iot.id']})/Observations",
            json={"result": 1, "phenomenonTime": iso_ms(T0)},
        )
        assert posted.status_code == 404
    with httpx.Client(base_url=with_entities.url, headers=bearer(with_entities.tokens["globex"])) as api:
        assert api.get(f"/v1.1/Things({thing})").json()["name"] == "boiler"
        observations = api.get(f"/v1.1/Datastreams({datastream['@iot.id']})/Observations").json()["value"]
        assert sorted(o["result"] for o in observations) == [2700, 2701, 2702]

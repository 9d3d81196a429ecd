"""The Data Array extension with the set-up and requests of the OGC conformance suite's DataArrayTests:
`$resultFormat=dataArray` on Observations, and CreateObservations answering "error" for a bad row while
creating the others."""

import httpx

from .conftest import created_id, created_sensors

POINT = {"type": "Point", "coordinates": [8, 51]}
PROPERTIES = ["id", "phenomenonTime", "resultTime", "result", "resultQuality", "validTime", "parameters"]


def _setup(sta: httpx.Client) -> dict[str, list[int]]:
    thing = created_id(sta, "/Things", {"name": "Thing 1", "description": "The first thing."})
    location = {"name": "Location 1.0", "description": "Location of Thing 1.", "location": POINT}
    created_id(
        sta,
        "/Locations",
        location | {"encodingType": "application/vnd.geo+json", "Things": [{"@iot.id": thing}]},
    )
    sensors = created_sensors(sta, 2)
    temperature = {"name": "Temperature", "definition": "http://ucom.org/temperature", "description": ""}
    observed = created_id(sta, "/ObservedProperties", temperature)
    unit = {"name": "degree celcius", "symbol": "°C", "definition": "ucum:T"}
    datastreams = [
        created_id(
            sta,
            "/Datastreams",
            {"name": f"Datastream {n}", "description": "", "observationType": "someType"}
            | {"unitOfMeasurement": unit, "Thing": {"@iot.id": thing}, "Sensor": {"@iot.id": sensor}}
            | {"ObservedProperty": {"@iot.id": observed}},
        )
        for n, sensor in zip((1, 2), sensors, strict=True)
    ]
    feature = {"description": "", "encodingType": "application/vnd.geo+json", "feature": POINT}
    features = [created_id(sta, "/FeaturesOfInterest", feature | {"name": f"Feature {n}"}) for n in (1, 2)]
    for day, (datastream, foi) in enumerate(zip([0, 1, 0, 1], [0, 0, 1, 1], strict=True), start=1):
        body = {"result": day, "phenomenonTime": f"2016-01-0{day}T01:01:01.000Z"}
        body |= {"FeatureOfInterest": {"@iot.id": features[foi]}}
        created_id(sta, f"/Datastreams({datastreams[datastream]})/Observations", body)
    return {"datastreams": datastreams, "features": features}


def test_observations_as_data_arrays_grouped_by_datastream(sta: httpx.Client) -> None:
    datastreams = _setup(sta)["datastreams"]
    answer = sta.get("/Observations?$count=true&$top=3&$resultFormat=dataArray")
    assert answer.status_code == 200, answer.text
    document = answer.json()
    assert document["@iot.count"] == 4
    assert "@iot.nextLink" in document
    rows = 0
    for table in document["value"]:
        assert table["Datastream@iot.navigationLink"].endswith(
            tuple(f"/Datastreams({d})" for d in datastreams)
        )
        assert table["components"] == PROPERTIES
        assert table["dataArray@iot.count"] == len(table["dataArray"])
        assert all(len(row) == len(PROPERTIES) for row in table["dataArray"])
        rows += len(table["dataArray"])
    assert rows == 3

    selected = sta.get(
        f"/Datastreams({datastreams[0]})/Observations?$resultFormat=dataArray&$select=result,phenomenonTime"
    ).json()
    [table] = selected["value"]
    assert table.pop("Datastream@iot.navigationLink").endswith(f"/v1.1/Datastreams({datastreams[0]})")
    assert selected["value"] == [
        {
            "components": ["result", "phenomenonTime"],
            "dataArray@iot.count": 2,
            "dataArray": [[1, "2016-01-01T01:01:01Z"], [3, "2016-01-03T01:01:01Z"]],
        }
    ]
    wrong = sta.get("/Things?$resultFormat=dataArray")
    assert (wrong.status_code, wrong.json()["message"]) == (
        400,
        "$resultFormat=dataArray applies to Observations only",
    )
    assert sta.get("/Observations?$resultFormat=csv").status_code == 400


def test_create_observations_answers_error_for_a_bad_row_and_creates_the_others(sta: httpx.Client) -> None:
    made = _setup(sta)
    first, second = made["datastreams"]
    body = [
        {
            "Datastream": {"@iot.id": first},
            "components": ["phenomenonTime", "result", "FeatureOfInterest/id"],
            "dataArray@iot.count": 2,
            "dataArray": [
                ["2010-12-23T10:20:00-0700", 20, made["features"][0]],
                ["2010-12-23T10:21:00-0700", 30, "probablyNotAValidId"],
            ],
        },
        {
            "Datastream": {"@iot.id": second},
            "components": ["phenomenonTime", "result"],
            "dataArray@iot.count": 2,
            "dataArray": [["2010-12-23T10:20:00-0700", 65], ["2010-12-23T10:21:00-0700", 60]],
        },
    ]
    answer = sta.post("/CreateObservations", json=body)
    assert answer.status_code == 201, answer.text
    lines = answer.json()
    assert [line.startswith("error") for line in lines] == [False, True, False, False]
    assert "FeatureOfInterest 'probablyNotAValidId'" in lines[1]
    paths = [line.split("/v1.1", 1)[1] for line in lines if not line.startswith("error")]
    created = [
        sta.get(path).json() | {"FeatureOfInterest": sta.get(f"{path}/FeatureOfInterest").json()}
        for path in paths
    ]
    assert [(o["phenomenonTime"], o["result"]) for o in created] == [
        ("2010-12-23T17:20:00Z", 20),
        ("2010-12-23T17:20:00Z", 65),
        ("2010-12-23T17:21:00Z", 60),
    ]
    assert created[0]["FeatureOfInterest"]["@iot.id"] == made["features"][0]
    made_from_location = {o["FeatureOfInterest"]["@iot.id"] for o in created[1:]}
    assert len(made_from_location) == 1  # both made from Thing 1's Location: one shared feature
    assert sta.get(f"/Datastreams({first})/Observations?$count=true").json()["@iot.count"] == 3  # 2 + 1

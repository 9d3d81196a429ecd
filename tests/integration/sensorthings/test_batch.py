"""`POST /v1.1/$batch` in the JSON batch format (OData 4.01 JSON Format section 19, FROST-Server's "JSON
Batch Requests" extension) and in the multipart/mixed format of SensorThings 1.1 (OData 4.0).

Where the cases come from (facts only; the code here is our own): FraunhoferIOSB/FROST-Server,
FROST-Server.Tests/.../statests/c04batch/BatchTests.java — `test06JsonBatchRequest` (GET, POST, merge
PATCH and JSON-patch PATCH in an atomicity group, then a GET of a missing Thing: 404),
`test07...ReferencingNewEntitiesInBody` (a Sensor, then a Datastream whose `Sensor` is `{"@iot.id":
"$sensor1"}`) and `test08...ReferencingNewEntitiesInUrl` (a Datastream posted to `$sensor1/Datastreams`);
docs/extensions/JsonBatchRequest.md for the request and response shapes; oasis-tcs/odata-specs,
odata-json-format "19 Batch Requests and Responses" for `dependsOn`, 424 Failed Dependency and
atomicity groups ("MUST either all succeed, or all fail"). The multipart cases are FROST's test01
(a GET, a change set with a POST and a PATCH, a GET of a missing Thing), test02 (a change set whose
Datastream refers to the Sensor of Content-ID sensor1) and test04/test05 (absolute and relative urls).
"""

import email
import email.policy
import json
from email.message import EmailMessage
from typing import Any

import httpx
import pytest

MEASUREMENT = "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement"
SENSOR = {
    "name": "DS18B20",
    "description": "DS18B20 is an air temperature sensor",
    "encodingType": "application/pdf",
    "metadata": "http://datasheets.maxim-ic.com/en/ds/DS18B20.pdf",
}
OBSERVED = {"name": "temperature", "definition": "http://example.org/t", "description": "air"}
UNIT = {"name": "degree Celsius", "symbol": "°C", "definition": "http://unitsofmeasure.org/ucum.html#para-30"}
SETS = ("Things", "Locations", "Sensors", "ObservedProperties", "Datastreams", "HistoricalLocations")


def _datastream(name: str, **links: Any) -> dict[str, Any]:
    return {
        "name": name,
        "description": f"the {name}",
        "observationType": MEASUREMENT,
        "unitOfMeasurement": UNIT,
        **links,
    }


def _batch(sta: httpx.Client, *requests: dict[str, Any]) -> list[dict[str, Any]]:
    answer = sta.post("/$batch", json={"requests": list(requests)})
    assert answer.status_code == 200, answer.text
    responses: list[dict[str, Any]] = answer.json()["responses"]
    assert [r["id"] for r in responses] == [r["id"] for r in requests]
    return responses


def _create(sta: httpx.Client, path: str, body: dict[str, Any]) -> int:
    answer = sta.post(path, json=body)
    assert answer.status_code == 201, answer.text
    entity_id: int = answer.json()["@iot.id"]
    return entity_id


def _counts(sta: httpx.Client) -> dict[str, int]:
    return {name: sta.get(f"/{name}?$count=true&$top=0").json()["@iot.count"] for name in SETS}


def _root(sta: httpx.Client) -> str:
    return str(sta.base_url).rstrip("/")


def _statuses(responses: list[dict[str, Any]]) -> list[int]:
    return [r["status"] for r in responses]


def test_a_batch_mixes_get_post_patch_put_and_delete(sta: httpx.Client) -> None:
    things = [_create(sta, "/Things", {"name": f"Thing {i}", "properties": {"int": i}}) for i in range(4)]
    responses = _batch(
        sta,
        {"id": "0", "method": "get", "url": f"Things({things[0]})?$select=name"},
        {"id": "1", "atomicityGroup": "group1", "method": "post", "url": "Things", "body": {"name": "New"}},
        {
            "id": "2",
            "atomicityGroup": "group1",
            "method": "patch",
            "url": f"Things({things[0]})",
            "body": {"name": "Json Patched"},
        },
        {
            "id": "3",
            "atomicityGroup": "group1",
            "method": "patch",
            "headers": {"Content-Type": "application/json-patch+json"},
            "url": f"v1.1/Things({things[1]})",
            "body": [
                {"op": "replace", "path": "/name", "value": "Thing 1 Updated"},
                {"op": "add", "path": "/properties/new", "value": "Changes"},
            ],
        },
        {"id": "4", "method": "put", "url": f"/v1.1/Things({things[2]})", "body": {"name": "Replaced"}},
        {"id": "5", "method": "DELETE", "url": f"Things({things[3]})"},
        {"id": "6", "method": "get", "url": "Things(999999)"},
        {"id": "7", "method": "get", "url": f"Things({things[0]})/name/$value"},
        {
            "id": "8",
            "method": "get",
            "url": "Things?$filter=name%20eq%20'Replaced'&$select=name&$count=true",
        },
    )
    assert _statuses(responses) == [200, 201, 200, 200, 200, 200, 404, 200, 200]
    assert responses[0]["body"] == {"name": "Thing 0"}  # read before the group changed it
    created = responses[1]
    new_id = created["body"]["@iot.id"]
    assert created["atomicityGroup"] == "group1"
    assert created["body"]["name"] == "New"
    assert created["headers"]["location"] == created["location"] == f"{_root(sta)}/Things({new_id})"
    assert "body" not in responses[2]
    assert responses[6]["body"] == {"code": 404, "type": "error", "message": "no Thing 999999"}
    assert responses[7]["body"] == "Json Patched"
    assert responses[7]["headers"] == {"content-type": "text/plain"}
    assert responses[8]["body"] == {"@iot.count": 1, "value": [{"name": "Replaced"}]}

    assert sta.get(f"/Things({new_id})").json()["name"] == "New"
    assert sta.get(f"/Things({things[0]})").json()["name"] == "Json Patched"
    updated = sta.get(f"/Things({things[1]})").json()
    assert (updated["name"], updated["properties"]) == ("Thing 1 Updated", {"int": 1, "new": "Changes"})
    assert sta.get(f"/Things({things[2]})").json()["properties"] is None  # PUT replaces the whole entity
    assert sta.get(f"/Things({things[3]})").status_code == 404


def test_references_chain_created_entities_through_body_and_url(sta: httpx.Client) -> None:
    observed = _create(sta, "/ObservedProperties", OBSERVED)
    responses = _batch(
        sta,
        {"id": "thing1", "method": "post", "url": "Things", "body": {"name": "house"}},
        {"id": "sensor1", "atomicityGroup": "g", "method": "post", "url": "Sensors", "body": SENSOR},
        {  # FROST test07: the new Sensor by reference in the body, the new Thing by the url
            "id": "ds1",
            "atomicityGroup": "g",
            "method": "post",
            "url": "$thing1/Datastreams",
            "body": _datastream(
                "Temperature Thing 5", ObservedProperty={"@iot.id": observed}, Sensor={"@iot.id": "$sensor1"}
            ),
        },
        {  # FROST test08: posted to the new Sensor's Datastreams; the Thing linked by reference
            "id": "ds2",
            "atomicityGroup": "g",
            "method": "post",
            "url": "$sensor1/Datastreams",
            "body": _datastream(
                "humidity", ObservedProperty={"@iot.id": observed}, Thing={"@iot.id": "$thing1"}
            ),
        },
        {"id": "in-group", "atomicityGroup": "g", "method": "get", "url": "$sensor1/Datastreams?$count=true"},
        {"id": "read", "dependsOn": ["g"], "method": "get", "url": "$ds1?$expand=Thing,Sensor"},
        {"id": "rename", "method": "patch", "url": "$read/Thing", "body": {"name": "home"}},
        {"id": "list", "method": "get", "url": "$sensor1/Datastreams?$orderby=id&$select=name"},
    )
    assert _statuses(responses) == [201, 201, 201, 201, 200, 200, 200, 200]
    thing, sensor = responses[0]["body"]["@iot.id"], responses[1]["body"]["@iot.id"]
    ds1, ds2 = responses[2]["body"]["@iot.id"], responses[3]["body"]["@iot.id"]
    assert responses[2]["location"] == f"{_root(sta)}/Datastreams({ds1})"
    assert responses[4]["body"]["@iot.count"] == 2  # the group reads what it has written so far
    read = responses[5]["body"]
    assert (read["@iot.id"], read["Thing"]["@iot.id"], read["Sensor"]["@iot.id"]) == (ds1, thing, sensor)
    assert responses[7]["body"]["value"] == [{"name": "Temperature Thing 5"}, {"name": "humidity"}]
    for datastream in (ds1, ds2):
        linked = sta.get(f"/Datastreams({datastream})?$expand=Thing,Sensor").json()
        assert (linked["Thing"]["name"], linked["Sensor"]["@iot.id"]) == ("home", sensor)


def test_a_failing_atomicity_group_writes_nothing(sta: httpx.Client) -> None:
    thing = _create(sta, "/Things", {"name": "kept"})
    before = _counts(sta)
    responses = _batch(
        sta,
        {"id": "t", "atomicityGroup": "all", "method": "post", "url": "Things", "body": {"name": "gone"}},
        {"id": "s", "atomicityGroup": "all", "method": "post", "url": "Sensors", "body": SENSOR},
        {
            "id": "p",
            "atomicityGroup": "all",
            "method": "patch",
            "url": f"Things({thing})",
            "body": {"name": "x"},
        },
        {
            "id": "ds",
            "atomicityGroup": "all",
            "method": "post",
            "url": "$t/Datastreams",
            "body": _datastream("d", Sensor={"@iot.id": "$s"}, ObservedProperty={"@iot.id": 424242}),
        },
        {
            "id": "after",
            "atomicityGroup": "all",
            "method": "post",
            "url": "ObservedProperties",
            "body": OBSERVED,
        },
        {
            "id": "needs-group",
            "dependsOn": ["all"],
            "method": "post",
            "url": "Things",
            "body": {"name": "no"},
        },
        {"id": "needs-t", "method": "get", "url": "$t"},
        {"id": "alone", "method": "post", "url": "Things", "body": {"name": "independent"}},
    )
    assert _statuses(responses) == [424, 424, 424, 404, 424, 424, 424, 201]
    assert "ObservedProperty 424242, which does not exist" in responses[3]["body"]["message"]
    for response in (*responses[:3], responses[4]):
        assert response["atomicityGroup"] == "all"
        assert "failed at request 'ds'; none of it was written" in response["body"]["message"]
    assert responses[5]["body"]["message"] == "not run: 'all', which it depends on, failed"
    assert responses[6]["body"]["message"] == "not run: 't', which it depends on, failed"
    assert _counts(sta) == {**before, "Things": before["Things"] + 1}  # only "independent"
    assert sta.get(f"/Things({thing})").json()["name"] == "kept"
    assert [t["name"] for t in sta.get("/Things?$orderby=id").json()["value"]] == ["kept", "independent"]


def test_each_request_fails_on_its_own_with_its_status(sta: httpx.Client) -> None:
    sensor = _create(sta, "/Sensors", SENSOR)
    observed = _create(sta, "/ObservedProperties", OBSERVED)
    thing = _create(sta, "/Things", {"name": "t"})
    link = {
        "Thing": {"@iot.id": thing},
        "Sensor": {"@iot.id": sensor},
        "ObservedProperty": {"@iot.id": observed},
    }
    datastream = _create(sta, "/Datastreams", _datastream("d", **link))
    responses = _batch(
        sta,
        {"id": "widgets", "method": "get", "url": "Widgets"},
        {"id": "colour", "method": "post", "url": "Things", "body": {"name": "x", "colour": "red"}},
        {"id": "top", "method": "get", "url": "Things?$top=many"},
        {"id": "missing", "method": "patch", "url": "Things(987654)", "body": {"name": "y"}},
        {"id": "used", "method": "delete", "url": f"Sensors({sensor})"},
        {
            "id": "text",
            "method": "post",
            "url": "Things",
            "headers": {"content-type": "text/plain"},
            "body": "hi",
        },
        {"id": "outside", "method": "get", "url": "/api/v1/datastreams"},
        {"id": "wrong-kind", "method": "post", "url": "Things", "body": {"name": "z"}},
        {
            "id": "mislinked",
            "method": "post",
            "url": f"Things({thing})/Datastreams",
            "body": _datastream(
                "e", Sensor={"@iot.id": "$wrong-kind"}, ObservedProperty={"@iot.id": observed}
            ),
        },
        {"id": "nested", "method": "post", "url": "$batch", "body": {"requests": []}},
        {"id": "format", "method": "get", "url": f"Datastreams({datastream})?$resultFormat=dataArray"},
    )
    expected = [404, 400, 400, 404, 409, 415, 404, 201, 400, 404, 400]
    assert _statuses(responses) == expected
    messages = [r.get("body", {}).get("message", "") for r in responses]
    assert "no entity set 'Widgets'" in messages[0]
    assert "Thing has no property 'colour'" in messages[1]
    assert "$top" in messages[2]
    assert "no Thing 987654" in messages[3]
    assert "still used by Datastreams" in messages[4]
    assert "not text/plain" in messages[5]
    assert "outside the SensorThings service root /v1.1" in messages[6]
    assert "Sensor refers to $wrong-kind, which is a Thing, not a Sensor" in messages[8]
    assert "no entity set '$batch'" in messages[9]
    assert "$resultFormat=dataArray applies to Observations only" in messages[10]
    assert sta.get(f"/Sensors({sensor})").status_code == 200


def test_observations_are_created_in_a_batch_outside_atomicity_groups(sta: httpx.Client) -> None:
    sensor = _create(sta, "/Sensors", SENSOR)
    observed = _create(sta, "/ObservedProperties", OBSERVED)
    thing = _create(sta, "/Things", {"name": "t"})
    links = {"Sensor": {"@iot.id": sensor}, "ObservedProperty": {"@iot.id": observed}}
    datastream = _create(sta, "/Datastreams", _datastream("d", Thing={"@iot.id": thing}, **links))
    before = _counts(sta)
    responses = _batch(
        sta,
        {
            "id": "reading",
            "method": "post",
            "url": f"Datastreams({datastream})/Observations",
            "body": {"result": 21.5, "phenomenonTime": "2024-01-01T00:00:00Z"},
        },
        {
            "id": "table",
            "method": "get",
            "url": f"Datastreams({datastream})/Observations?$resultFormat=dataArray&$select=result",
        },
        {"id": "read", "method": "get", "url": "$reading/Datastream?$select=id"},
        {
            "id": "grouped-reading",
            "atomicityGroup": "readings",
            "method": "post",
            "url": "Observations",
            "body": {"result": 1, "Datastream": {"@iot.id": datastream}},
        },
        {
            "id": "deep-insert",
            "atomicityGroup": "deep",
            "method": "post",
            "url": f"Things({thing})/Datastreams",
            "body": _datastream("with readings", Observations=[{"result": 3}], **links),
        },
    )
    assert _statuses(responses) == [201, 200, 200, 400, 400]
    created = responses[0]
    assert created["location"] == f"{_root(sta)}/Observations('{created['body']['@iot.id']}')"
    table = responses[1]["body"]["value"]
    assert [(t["components"], t["dataArray"]) for t in table] == [(["result"], [[21.5]])]
    assert responses[2]["body"] == {"@iot.id": datastream}
    for response in responses[3:]:
        assert "Observations cannot be created inside an atomicityGroup" in response["body"]["message"]
    assert _counts(sta) == before
    assert [o["result"] for o in sta.get(f"/Datastreams({datastream})/Observations").json()["value"]] == [
        21.5
    ]


def _grouped(*requests: dict[str, Any]) -> dict[str, Any]:
    return {"requests": [{**r, "atomicityGroup": "g"} if r["id"] != "2" else r for r in requests]}


ONE = {"id": "1", "method": "post", "url": "Things", "body": {"name": "a"}}
TWO = {"id": "2", "method": "post", "url": "Things", "body": {"name": "b"}}
THREE = {"id": "3", "method": "post", "url": "Things", "body": {"name": "c"}}
JSON = "application/json"
MIXED = "multipart/mixed; boundary=b"


def _part(request: str, headers: str = "") -> str:
    return f"--b\r\nContent-Type: application/http\r\n{headers}\r\n{request}\r\n"


@pytest.mark.parametrize(
    ("content_type", "body", "message"),
    [
        (JSON, b"{not json", "body is not JSON"),
        (JSON, {"request": []}, 'a JSON batch is an object {"requests": [...]}'),
        (JSON, {"requests": {"id": "1"}}, 'a JSON batch is an object {"requests": [...]}'),
        (
            JSON,
            {"requests": [{"method": "get", "url": "Things"}]},
            "request 0: 'id' must be a non-empty string",
        ),
        (JSON, {"requests": [{**ONE, "method": "head"}]}, "request 0: 'method' 'head' is not one of"),
        (JSON, {"requests": [{"id": "1", "method": "get"}]}, "request 0: 'url' must be a non-empty string"),
        (
            JSON,
            {"requests": [{**ONE, "if": "$0"}]},
            "request 0: unknown member 'if': conditional requests are not supported",
        ),
        (JSON, {"requests": [{**ONE, "atomicitygroup": "g"}]}, "request 0: unknown member 'atomicitygroup'"),
        (JSON, {"requests": [ONE, TWO, ONE]}, "request 2: id '1' is already a request id"),
        (JSON, _grouped(ONE, TWO, THREE), "request 2: the requests of atomicityGroup 'g' must be adjacent"),
        (
            JSON,
            {"requests": [{**ONE, "dependsOn": ["2"]}, TWO]},
            "request 0: dependsOn '2' names no preceding",
        ),
        (
            JSON,
            {"requests": [ONE, {**TWO, "url": "$one/Locations"}]},
            "request 1: $one refers to no preceding",
        ),
        (JSON, {"requests": [{**ONE, "method": "get"}]}, "request 0: a get request has no body"),
        (MIXED, b"no parts", "a multipart/mixed batch needs its boundary"),
        (MIXED, _part("FETCH Things HTTP/1.1\r\n") + "--b--", "request 0: 'method' 'FETCH' is not one of"),
        (MIXED, _part("GET\r\n") + "--b--", "request 0: 'GET' is not a request line like"),
        (
            MIXED,
            _part('POST Things HTTP/1.1\r\nContent-Type: application/json\r\n\r\n{"name": ') + "--b--",
            "request 0: body is not JSON",
        ),
        (
            MIXED,
            _part("GET Things HTTP/1.1\r\n", "Content-ID: 1\r\n") + _part("GET $2 HTTP/1.1\r\n") + "--b--",
            "request 1: $2 refers to no preceding request",
        ),
    ],
)
def test_a_malformed_batch_is_refused_whole_before_anything_runs(
    sta: httpx.Client, content_type: str, body: Any, message: str
) -> None:
    content = body if isinstance(body, bytes | str) else json.dumps(body)
    answer = sta.post("/$batch", content=content, headers={"content-type": content_type})
    assert answer.status_code == 400, answer.text
    assert answer.json()["code"] == 400
    assert message in answer.json()["message"]
    assert sum(_counts(sta).values()) == 0


def test_a_batch_is_json_or_multipart(sta: httpx.Client) -> None:
    answer = sta.post("/$batch", content="a=b", headers={"content-type": "application/x-www-form-urlencoded"})
    assert answer.status_code == 415
    assert answer.json()["message"] == (
        "a $batch body is application/json (a JSON batch) or multipart/mixed,"
        " not application/x-www-form-urlencoded"
    )
    conformance = sta.get(_root(sta)).json()["serverSettings"]["conformance"]
    assert "http://www.opengis.net/spec/iot_sensing/1.1/req/batch-request/batch-request" in conformance
    assert "https://fraunhoferiosb.github.io/FROST-Server/extensions/JsonBatchRequest.html" in conformance


# multipart/mixed (OData 4.0, SensorThings 1.1 section 11.2): FROST's test01 to test05


def _post_multipart(sta: httpx.Client, body: str) -> list[Any]:
    """The answer's parts: a dict per response, a list of dicts per change set."""
    answer = sta.post("/$batch", content=body, headers={"content-type": "multipart/mixed;boundary=batch_1"})
    assert answer.status_code == 200, answer.text
    head = f"Content-Type: {answer.headers['content-type']}\r\n\r\n".encode()
    message = email.message_from_bytes(head + answer.content, policy=email.policy.HTTP)
    assert isinstance(message, EmailMessage)
    return [
        [_http_answer(q) for q in part.iter_parts()] if part.is_multipart() else _http_answer(part)
        for part in message.iter_parts()
    ]


def _http_answer(part: Any) -> dict[str, Any]:
    assert part.get_content_type() == "application/http"
    head, _, body = part.get_payload(decode=True).decode().partition("\r\n\r\n")
    status_line, *lines = head.split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines)
    answer = {"status": int(status_line.split()[1]), "headers": headers, "id": part.get("Content-ID")}
    return {**answer, "body": json.loads(body) if body.strip() else None}


def _http_request(request_line: str, content_id: str | None = None, body: Any = None) -> str:
    id_header = f"Content-ID: {content_id}\r\n" if content_id else ""
    payload = f"Content-Type: application/json\r\n\r\n{json.dumps(body)}\r\n" if body is not None else "\r\n"
    return f"Content-Type: application/http\r\n{id_header}\r\n{request_line}\r\nHost: localhost\r\n{payload}"


def _multipart(*parts: str | list[str]) -> str:
    texts = []
    for part in parts:
        if isinstance(part, list):
            inner = "".join(f"--changeset_7\r\n{p}" for p in part) + "--changeset_7--\r\n"
            part = f"Content-Type: multipart/mixed;boundary=changeset_7\r\n\r\n{inner}"
        texts.append(f"--batch_1\r\n{part}")
    return "".join(texts) + "--batch_1--"


def test_a_multipart_batch_answers_part_by_part(sta: httpx.Client) -> None:
    things = [_create(sta, "/Things", {"name": f"Thing {i}", "properties": {"int": i + 8}}) for i in range(3)]
    query = "Things?$count=true&$filter=properties/int%20eq%2010&$select=name"
    answers = _post_multipart(
        sta,
        _multipart(
            _http_request(f"GET /v1.1/Things({things[0]})?$select=name HTTP/1.1"),
            [
                _http_request("POST /v1.1/Things HTTP/1.1", "1", {"name": "New", "description": "Thing"}),
                _http_request(f"PATCH /v1.1/Things({things[0]}) HTTP/1.1", "2", {"name": "Patched"}),
            ],
            _http_request("GET /v1.1/Things(999999) HTTP/1.1"),
            _http_request(f"GET {query} HTTP/1.1"),
            _http_request(f"GET {_root(sta)}/{query} HTTP/1.1"),
        ),
    )
    first, (created, patched), missing, relative, absolute = answers
    assert (first["status"], first["body"], first["id"]) == (200, {"name": "Thing 0"}, None)
    assert (created["status"], created["id"], patched["status"], patched["id"]) == (201, "1", 200, "2")
    assert created["headers"]["Location"] == f"{_root(sta)}/Things({created['body']['@iot.id']})"
    assert missing["status"] == 404
    assert missing["body"] == {"code": 404, "type": "error", "message": "no Thing 999999"}
    assert relative["body"] == absolute["body"] == {"@iot.count": 1, "value": [{"name": "Thing 2"}]}
    assert sta.get(f"/Things({things[0]})").json()["name"] == "Patched"


def test_a_multipart_change_set_refers_to_its_content_ids_and_fails_whole(sta: httpx.Client) -> None:
    thing = _create(sta, "/Things", {"name": "Thing 5"})
    observed = _create(sta, "/ObservedProperties", OBSERVED)
    datastream = _datastream("Temperature Thing 5", ObservedProperty={"@iot.id": observed})
    answers = _post_multipart(
        sta,
        _multipart(
            [
                _http_request("POST /v1.1/Sensors HTTP/1.1", "sensor1", SENSOR),
                _http_request(
                    f"POST /v1.1/Things({thing})/Datastreams HTTP/1.1",
                    "any",
                    {**datastream, "Sensor": {"@iot.id": "$sensor1"}},
                ),
                _http_request("GET $any/Sensor HTTP/1.1", "read"),
            ]
        ),
    )
    (sensor, created, read), *_ = answers
    assert [a["status"] for a in (sensor, created, read)] == [201, 201, 200]
    assert created["headers"]["Location"] == f"{_root(sta)}/Datastreams({created['body']['@iot.id']})"
    assert read["body"]["@iot.id"] == sensor["body"]["@iot.id"]

    before = _counts(sta)
    answers = _post_multipart(
        sta,
        _multipart(
            [
                _http_request("POST Sensors HTTP/1.1", "s2", SENSOR),
                _http_request(
                    "POST Datastreams HTTP/1.1",
                    "bad",
                    {**datastream, "Sensor": {"@iot.id": "$s2"}, "Thing": {"@iot.id": 777777}},
                ),
            ],
            _http_request("GET Sensors?$count=true&$top=0 HTTP/1.1"),
        ),
    )
    failed, count = answers  # a change set that fails is answered by its failing request alone
    assert (failed["status"], failed["id"]) == (404, "bad")
    assert "Thing 777777, which does not exist" in failed["body"]["message"]
    assert count["body"]["@iot.count"] == before["Sensors"]
    assert _counts(sta) == before

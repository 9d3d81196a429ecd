"""What the OpenAPI document promises, checked against the running server: the SensorThings resource
paths written out, 405s with the documented `Allow`, and errors before any route in each API's shape."""

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from iotstream.config import load_settings
from iotstream.embedded import EmbeddedPlatform


@pytest.fixture
def api(tmp_path: Path) -> Iterator[httpx.Client]:
    with EmbeddedPlatform(load_settings(data_dir=tmp_path, api={"port": 0})) as platform:
        assert platform.api is not None
        with httpx.Client(base_url=platform.api.url) as client:
            yield client


def test_sensorthings_entity_sets_entities_and_links_are_paths_of_their_own(api: httpx.Client) -> None:
    paths = api.get("/openapi.json").json()["paths"]
    assert not [p for p in paths if p.startswith("/v1.1/{")], "the catch-all route is not documented"
    assert set(paths["/v1.1/Things"]) == {"get", "post"}
    assert set(paths["/v1.1/Things({id})"]) == {"parameters", "get", "patch", "put", "delete"}
    assert set(paths["/v1.1/Datastreams({id})/Observations"]) == {"parameters", "get", "post"}
    assert set(paths["/v1.1/Datastreams({id})/Thing"]) == {"parameters", "get"}
    assert "$filter" in {p["name"] for p in paths["/v1.1/Observations"]["get"]["parameters"]}
    assert set(paths["/v1.1/Things"]["post"]["responses"]) == {"201", "400", "409"}


def test_a_method_a_path_does_not_take_is_answered_405_with_the_documented_methods(
    api: httpx.Client,
) -> None:
    readings = api.request("OPTIONS", "/api/v1/readings")
    assert readings.status_code == 405
    assert readings.headers["allow"] == "GET, POST"  # Starlette named only the first route's method
    things = api.put("/v1.1/Things", json={})
    assert things.status_code == 405
    assert things.headers["allow"] == "GET, POST"
    assert things.json() == {
        "code": 405,
        "type": "error",
        "message": "PUT is not allowed here; this resource takes GET, POST",
    }
    assert api.put("/v1.1/$batch", json={}).headers["allow"] == "POST"
    assert api.patch("/v1.1/Datastreams(1)/Thing", json={}).headers["allow"] == "GET"


def test_errors_raised_before_a_route_keep_the_shape_of_their_api(api: httpx.Client) -> None:
    unmatched = api.get("/v1.1/Things(1)%0A")  # no route matches a path with a line break
    assert unmatched.status_code == 404
    assert unmatched.json()["code"] == 404
    assert unmatched.json()["type"] == "error"
    registry = api.get("/schema-registry/schemas/ids/abc")
    assert registry.status_code == 422
    assert registry.headers["content-type"] == "application/vnd.schemaregistry.v1+json"
    assert registry.json()["error_code"] == 422
    assert "schema_id" in registry.json()["message"]
    assert api.get("/api/v1/nothing").json() == {"detail": "Not Found"}


def test_an_entity_id_beyond_64_bits_is_not_found_rather_than_a_server_error(api: httpx.Client) -> None:
    answer = api.delete("/v1.1/Locations(51724010844908732416)")
    assert answer.status_code == 404
    assert "ids are below 2^63" in answer.json()["message"]

"""The Schema Registry API with the real client Kafka users have: confluent-kafka's SchemaRegistryClient,
AvroSerializer and AvroDeserializer against the platform; and its state kept in the `_schemas` topic."""

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import MessageField, SerializationContext

from iotstream.config import load_settings
from iotstream.embedded import EmbeddedPlatform

FIXTURES = Path(__file__).parents[1] / "fixtures"
READING = {
    "type": "record",
    "name": "Reading",
    "namespace": "iot",
    "fields": [{"name": "datastream", "type": "string"}, {"name": "value", "type": "double"}],
}
WITH_UNIT = {**READING, "fields": [*READING["fields"], {"name": "unit", "type": "string", "default": ""}]}
NEEDS_UNIT = {**READING, "fields": [*READING["fields"], {"name": "unit", "type": "string"}]}
AS_TEXT = {**READING, "fields": [READING["fields"][0], {"name": "value", "type": "string"}]}


@pytest.fixture
def registry_url(tmp_path: Path) -> Iterator[str]:
    settings = load_settings(data_dir=tmp_path, api={"port": 0})
    with EmbeddedPlatform(settings) as platform:
        assert platform.api is not None
        yield f"{platform.api.url}/schema-registry"


def test_the_confluent_client_registers_evolves_and_is_refused(registry_url: str) -> None:
    with SchemaRegistryClient({"url": registry_url}) as client:
        _evolve(client)


def _evolve(client: SchemaRegistryClient) -> None:
    first = client.register_schema("readings-value", Schema(json.dumps(READING), "AVRO"))
    assert client.register_schema("readings-value", Schema(json.dumps(READING), "AVRO")) == first
    assert json.loads(client.get_schema(first).schema_str) == READING
    second = client.register_schema("readings-value", Schema(json.dumps(WITH_UNIT), "AVRO"))  # BACKWARD
    assert second != first
    latest = client.get_latest_version("readings-value")
    assert (latest.version, latest.schema_id) == (2, second)
    assert client.get_versions("readings-value") == [1, 2]
    assert client.lookup_schema("readings-value", Schema(json.dumps(READING), "AVRO")).version == 1
    assert not client.test_compatibility("readings-value", Schema(json.dumps(AS_TEXT), "AVRO"))
    with pytest.raises(SchemaRegistryError) as refused:
        client.register_schema("readings-value", Schema(json.dumps(AS_TEXT), "AVRO"))
    assert refused.value.http_status_code == 409
    assert "TYPE_MISMATCH" in refused.value.error_message
    client.set_compatibility("readings-value", "BACKWARD_TRANSITIVE")  # NEEDS_UNIT reads v2, not v1
    assert client.test_compatibility("readings-value", Schema(json.dumps(NEEDS_UNIT), "AVRO"))  # vs latest
    with pytest.raises(SchemaRegistryError, match="READER_FIELD_MISSING_DEFAULT_VALUE"):
        client.register_schema("readings-value", Schema(json.dumps(NEEDS_UNIT), "AVRO"))
    client.set_compatibility("readings-value", "NONE")
    assert client.get_compatibility("readings-value") == "NONE"
    assert client.register_schema("readings-value", Schema(json.dumps(AS_TEXT), "AVRO")) > second
    assert client.get_subjects() == ["readings-value"]
    assert client.delete_subject("readings-value") == [1, 2, 3]
    assert client.get_subjects() == []
    assert client.delete_subject("readings-value", permanent=True) == [1, 2, 3]
    url = client._rest_client.base_urls[0]
    with SchemaRegistryClient({"url": url}) as fresh, pytest.raises(SchemaRegistryError) as missing:
        fresh.get_latest_version("readings-value")  # a new client: no cached versions
    assert (missing.value.http_status_code, missing.value.error_code) == (404, 40401)


def test_the_confluent_serializer_and_deserializer_round_trip(registry_url: str) -> None:
    fixture = json.loads((FIXTURES / "confluent_sr_client_capture.json").read_text())
    schema = next(r["body"]["schema"] for r in fixture["requests"] if r["method"] == "POST")
    with SchemaRegistryClient({"url": registry_url}) as client:
        serializer = AvroSerializer(client, schema)
        context = SerializationContext("temperature-data", MessageField.VALUE)
        framed = serializer(fixture["record"], context)
        assert framed == bytes.fromhex(fixture["serialized_hex"])  # the recorded bytes: magic 0, id 1
        assert AvroDeserializer(client)(framed, context) == fixture["roundtrip"]


def test_confluents_errors(registry_url: str) -> None:
    with httpx.Client(base_url=registry_url) as api:
        invalid = api.post("/subjects/s/versions", json={"schema": '{"type": "record"}'})
        assert (invalid.status_code, invalid.json()["error_code"]) == (422, 42201)
        assert api.get("/schemas/ids/99").json() == {"error_code": 40403, "message": "Schema not found"}
        assert api.get("/subjects/nope/versions").json()["error_code"] == 40401
        bad_version = api.get("/subjects/nope/versions/zero")
        assert bad_version.json()["error_code"] in (40401, 42202)
        assert api.put("/config", json={"compatibility": "SIDEWAYS"}).json()["error_code"] == 42203
        assert api.get("/config").json() == {"compatibilityLevel": "BACKWARD"}
        assert api.get("/config/nope").json()["error_code"] == 40408
        assert api.get("/schemas/types").json() == ["AVRO"]


def test_the_registry_is_kept_in_the_log_across_restarts(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path, api={"port": 0})
    with (
        EmbeddedPlatform(settings) as platform,
        SchemaRegistryClient({"url": f"{platform.api.url}/schema-registry"}) as client,
    ):
        schema_id = client.register_schema("kept-value", Schema(json.dumps(READING), "AVRO"))
        client.set_compatibility(level="FULL")
    with (
        EmbeddedPlatform(settings) as platform,
        SchemaRegistryClient({"url": f"{platform.api.url}/schema-registry"}) as client,
    ):
        assert json.loads(client.get_schema(schema_id).schema_str) == READING
        assert client.get_compatibility() == "FULL"


@pytest.mark.parametrize(
    ("fixture", "statuses"),
    [
        ("confluent_sr_client_capture.json", [404, 200, 404, 200, 200, 200, 200]),  # associations: 404
        ("python_sr_client_capture.json", [404, 200, 200]),  # a lookup before registering: 404
    ],
)
def test_the_recorded_client_requests_replay(registry_url: str, fixture: str, statuses: list[int]) -> None:
    recorded = json.loads((FIXTURES / fixture).read_text())
    answers = []
    with httpx.Client(base_url=registry_url) as api:
        for request in recorded["requests"]:
            headers = {"Content-Type": request["content_type"]} if request.get("content_type") else {}
            body = json.dumps(request["body"]).encode() if request.get("body") is not None else None
            query = f"?{request['query']}" if request.get("query") else ""
            answers.append(
                api.request(request["method"], request["path"] + query, content=body, headers=headers)
            )
    assert [a.status_code for a in answers] == statuses
    ids = [a.json()["id"] for a in answers if a.request.url.path.endswith("/versions")]
    assert ids == [1] * len(ids)
    assert len(ids) >= 1
    [schema] = [a.json()["schema"] for a in answers if "/schemas/ids/1" in a.request.url.path]
    assert json.loads(schema)["name"] == "TemperatureData"

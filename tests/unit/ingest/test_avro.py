"""Confluent-framed Avro into readings: the bytes recorded from the original systems' producers, and
every way a frame can be wrong."""

import io
import json
import re
from pathlib import Path

import fastavro
import pytest

from iotstream.ingest.avro import AvroFrameError, AvroReadings, FieldMapping, NotAReadingError

FIXTURES = Path(__file__).parents[2] / "fixtures"


def test_the_smart_home_producers_frames_become_readings_without_configuration() -> None:
    wire = json.loads((FIXTURES / "peldrak_wire_examples.json").read_text())
    schema = (FIXTURES / "peldrak_sensor.avsc").read_text()
    readings = AvroReadings({1: schema}.__getitem__)
    for example in wire["examples"]:
        [reading] = readings.readings(bytes.fromhex(example["wire_hex"]))
        record = example["decoded_back"]
        assert reading == {
            "datastream": record["name"],
            "time": record["timestamp"],
            "value": record["value"],
        }


def test_the_thesis_temperature_records_become_readings_without_configuration() -> None:
    capture = json.loads((FIXTURES / "confluent_sr_client_capture.json").read_text())
    schema = next(r["body"]["schema"] for r in capture["requests"] if r["method"] == "POST")
    [reading] = AvroReadings({1: schema}.__getitem__).readings(bytes.fromhex(capture["serialized_hex"]))
    assert reading == {"datastream": "sensor-1", "time": 1513296000000, "value": 101.25}


def test_a_mapping_names_the_fields_and_a_topic_can_name_the_datastream() -> None:
    schema = json.dumps(
        {
            "type": "record",
            "name": "M",
            "fields": [{"name": "at", "type": "long"}, {"name": "v", "type": "int"}],
        }
    )
    frame = bytes([0, 0, 0, 0, 7]) + bytes([0x02, 0x54])  # at = 1, v = 42 (zig-zag varints)
    readings = AvroReadings({7: schema}.__getitem__, FieldMapping(time="at", value="v"))
    assert readings.readings(frame, datastream="pump") == [{"datastream": "pump", "time": 1, "value": 42}]


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        (b"\x00\x00\x01", "a truncated frame: 3 bytes"),
        (b"\x01\x00\x00\x00\x01\x02", "magic byte 1, not 0"),
        (b"\x00\x00\x00\x00\x09\x02", "unknown schema id 9"),
        (b"\x00\x00\x00\x00\x01", "the bytes do not decode as schema 1"),
        # a whole record, then 2 bytes: read as the start of a next frame (2 bytes from byte 11)
        (b"\x00\x00\x00\x00\x01\x02\x41\x00\x00\xbc\x41\x00\x00", "a truncated frame: 2 bytes.*from byte 11"),
    ],
)
def test_a_wrong_frame_says_what_is_wrong(frame: bytes, reason: str) -> None:
    schema = json.dumps(
        {
            "type": "record",
            "name": "S",
            "fields": [{"name": "name", "type": "string"}, {"name": "value", "type": "float"}],
        }
    )
    *_, last = AvroReadings({1: schema}.__getitem__).readings(frame)
    assert isinstance(last, AvroFrameError)
    assert re.match(reason, str(last))


def test_a_record_without_a_value_is_refused_alone_and_times_are_exact_milliseconds() -> None:
    schema = json.dumps(
        {
            "type": "record",
            "name": "T",
            "fields": [
                {"name": "name", "type": "string"},
                {"name": "ts", "type": {"type": "long", "logicalType": "timestamp-millis"}},
                {"name": "value", "type": ["null", "double"]},
            ],
        }
    )
    parsed = fastavro.parse_schema(json.loads(schema))
    frames = b""
    for record in [{"name": "a", "ts": 1513296000123, "value": 1.5}, {"name": "b", "ts": 1, "value": None}]:
        body = io.BytesIO()
        fastavro.schemaless_writer(body, parsed, record)
        frames += b"\x00\x00\x00\x00\x02" + body.getvalue()
    without_value = json.dumps(
        {"type": "record", "name": "U", "fields": [{"name": "name", "type": "string"}]}
    )
    frames += b"\x00\x00\x00\x00\x03" + b"\x02c"  # name = "c", no value field
    readings = AvroReadings({2: schema, 3: without_value}.__getitem__, FieldMapping(time="ts"))
    items = readings.readings(frames + frames[:3])
    assert items[0] == {
        "datastream": "a",
        "time": 1513296000123,
        "value": 1.5,
    }  # not ...122 from float seconds
    assert items[1] == {"datastream": "b", "time": 1, "value": None}  # refused later: a value must be given
    assert isinstance(items[2], NotAReadingError)
    assert str(items[2]) == "the record has no value field (its fields: name)"
    assert isinstance(items[3], AvroFrameError)
    assert (
        str(items[3]) == "a truncated frame: 3 bytes, a Confluent frame has at least 5"
        f" (3 bytes from byte {len(frames)} not read)"
    )


def test_an_unknown_schema_id_is_asked_for_once_a_second_not_per_frame() -> None:
    asked: list[int] = []

    def schema_of(schema_id: int) -> str:
        asked.append(schema_id)
        raise LookupError(schema_id)

    readings = AvroReadings(schema_of)
    for _ in range(100):
        [error] = readings.readings(b"\x00\x00\x00\x00\x07\x02")
        assert str(error) == "unknown schema id 7"
    assert asked == [7]


def test_a_timestamp_millis_field_is_its_epoch_ms_wherever_the_logical_type_is_written() -> None:
    for time_field in (
        {"name": "ts", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "ts", "type": "long", "logicalType": "timestamp-millis"},  # on the field: Avro ignores it
    ):
        schema = {"type": "record", "name": "R", "fields": [time_field, {"name": "value", "type": "double"}]}
        body = io.BytesIO()
        fastavro.schemaless_writer(
            body, fastavro.parse_schema(schema), {"ts": 1_700_000_000_123, "value": 1.0}
        )
        frame = b"\x00\x00\x00\x00\x01" + body.getvalue()
        readings = AvroReadings({1: json.dumps(schema)}.__getitem__, FieldMapping(time="ts"))
        assert readings.readings(frame, "x") == [{"datastream": "x", "time": 1_700_000_000_123, "value": 1.0}]

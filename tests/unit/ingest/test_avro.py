"""Confluent-framed Avro into readings: the bytes recorded from the original systems' producers, and
every way a frame can be wrong."""

import json
from pathlib import Path

import pytest

from iotstream.ingest.avro import AvroFrameError, AvroReadings, FieldMapping

FIXTURES = Path(__file__).parents[2] / "fixtures"


def test_the_smart_home_producers_frames_become_readings_without_configuration() -> None:
    wire = json.loads((FIXTURES / "peldrak_wire_examples.json").read_text())
    schema = (FIXTURES / "peldrak_sensor.avsc").read_text()
    readings = AvroReadings({1: schema}.__getitem__)
    for example in wire["examples"]:
        reading = readings.reading(bytes.fromhex(example["wire_hex"]))
        record = example["decoded_back"]
        assert reading == {
            "datastream": record["name"],
            "time": record["timestamp"],
            "value": record["value"],
        }


def test_the_thesis_temperature_records_become_readings_without_configuration() -> None:
    capture = json.loads((FIXTURES / "confluent_sr_client_capture.json").read_text())
    schema = next(r["body"]["schema"] for r in capture["requests"] if r["method"] == "POST")
    reading = AvroReadings({1: schema}.__getitem__).reading(bytes.fromhex(capture["serialized_hex"]))
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
    assert readings.reading(frame, datastream="pump") == {"datastream": "pump", "time": 1, "value": 42}


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        (b"\x00\x00\x01", "a truncated frame: 3 bytes"),
        (b"\x01\x00\x00\x00\x01\x02", "magic byte 1, not 0"),
        (b"\x00\x00\x00\x00\x09\x02", "unknown schema id 9"),
        (b"\x00\x00\x00\x00\x01", "the bytes do not decode as schema 1"),
        (b"\x00\x00\x00\x00\x01\x02\x41\x00\x00\xbc\x41\x00\x00", "2 bytes after the record"),
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
    with pytest.raises(AvroFrameError, match=reason):
        AvroReadings({1: schema}.__getitem__).reading(frame)

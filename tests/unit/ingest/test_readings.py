"""The reading payload shared by HTTP and MQTT ingestion."""

import msgspec
import pytest

from iotstream.ingest.readings import InvalidPayloadError, ItemError, parse_readings
from iotstream.models import Observation, message_id

RECEIVED = 1_714_557_700_000


def test_one_object_or_an_array_and_every_kind_of_value() -> None:
    single, _ = parse_readings(b'{"datastream": "s1", "time": 1714557600000, "value": 21.5}', RECEIVED)
    assert single == [
        Observation("s1", 1_714_557_600_000, 21.5, RECEIVED, message_id("s1", 1_714_557_600_000, 21.5))
    ]
    body = msgspec.json.encode(
        [
            {"datastream": "door", "time": "2024-05-01T10:00:00Z", "value": "open", "id": "m-1"},
            {"datastream": "led", "time": "2024-05-01T10:00:00+02:00", "value": True},
            {"datastream": "gps", "time": "2024-05-01T10:00:00", "value": {"lat": 48.1, "lon": 11.6}},
            {"datastream": "s2", "value": 7},
        ]
    )
    readings, rejected = parse_readings(body, RECEIVED)
    assert rejected == []
    assert [(r.datastream, r.phenomenon_time_ms, r.result) for r in readings] == [
        ("door", 1_714_557_600_000, "open"),
        ("led", 1_714_550_400_000, True),
        ("gps", 1_714_557_600_000, {"lat": 48.1, "lon": 11.6}),  # no zone: UTC
        ("s2", RECEIVED, 7),  # no time: when it was received
    ]
    assert readings[0].id == "m-1"
    assert readings[1].id == message_id("led", 1_714_550_400_000, True)


def test_a_thousand_readings_with_ten_malformed_ones_keep_the_990_and_say_what_is_wrong() -> None:
    items: list[object] = [
        {"datastream": f"s{i % 7}", "time": 1_000 * i, "value": float(i)} for i in range(1_000)
    ]
    malformed = {
        3: ({"time": 1, "value": 1}, "'datastream' must be a non-empty string"),
        50: ({"datastream": "", "value": 1}, "'datastream' must be a non-empty string"),
        99: (
            {"datastream": "s", "time": "yesterday", "value": 1},
            "'time': time 'yesterday' is not ISO-8601 or epoch milliseconds",
        ),
        150: (
            {"datastream": "s", "time": 1.5, "value": 1},
            "'time' 1.5 must be whole epoch milliseconds or ISO-8601 text",
        ),
        200: ({"datastream": "s", "time": -5, "value": 1}, "'time' -5 is before 1970"),
        333: ({"datastream": "s", "time": 1}, "'value' is missing"),
        400: (
            {"datastream": "s", "value": None},
            "'value' must be a number, string, boolean, array or object, got null",
        ),
        700: ({"datastream": "s", "value": 1, "id": 17}, "'id' must be a non-empty string when given"),
        999: ("just text", "a reading must be a JSON object, got str"),
    }
    for index, (item, _) in malformed.items():
        items[index] = item
    readings, rejected = parse_readings(msgspec.json.encode(items), RECEIVED)
    assert len(readings) == 1000 - len(malformed)
    assert rejected == [ItemError(index, error) for index, (_, error) in malformed.items()]


def test_an_array_value_is_a_reading_of_a_multi_datastream() -> None:
    readings, rejected = parse_readings(b'{"datastream": "oven", "value": [25, 65]}', RECEIVED)
    assert (rejected, readings[0].result) == ([], [25, 65])


def test_a_whole_number_past_a_floats_range_is_refused_not_a_crash() -> None:
    body = b'[{"datastream": "a", "value": 1%s}, {"datastream": "a", "value": 2}]' % (b"0" * 400)
    readings, rejected = parse_readings(body, RECEIVED)
    assert rejected == [ItemError(0, "'value' is a whole number too large to store")]
    assert [r.result for r in readings] == [2]


def test_the_topic_can_name_the_datastream() -> None:
    readings, _ = parse_readings(b'{"value": 1}', RECEIVED, datastream="kitchen/temp")
    assert readings[0].datastream == "kitchen/temp"


@pytest.mark.parametrize(
    ("body", "message"),
    [(b"{broken", "body is not JSON"), (b"42", "must be a reading object or an array of them, got int")],
)
def test_an_unusable_body_is_one_clear_error(body: bytes, message: str) -> None:
    with pytest.raises(InvalidPayloadError, match=message):
        parse_readings(body, RECEIVED)

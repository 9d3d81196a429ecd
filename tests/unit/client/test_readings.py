"""Readings are checked and timed when handed to the client: the platform's checks, made before a
reading can sit in the disk buffer; times kept exact to the millisecond."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from iotstream._units import iso_ms
from iotstream.client._readings import reading, readings_of
from iotstream.client._time import iso, now_ms, to_ms
from iotstream.client.registry import RegisteredDatastream

T0 = 1_714_557_600_000


@pytest.mark.parametrize(
    "when",
    [
        T0 + 123,
        "2024-05-01T10:00:00.123Z",
        "2024-05-01T10:00:00.123",  # no zone: UTC, as the platform reads it
        "2024-05-01T12:00:00.123+02:00",
        datetime(2024, 5, 1, 10, 0, 0, 123_000, tzinfo=UTC),
        datetime(2024, 5, 1, 11, 0, 0, 123_000, tzinfo=timezone(timedelta(hours=1))),
    ],
)
def test_every_form_of_a_time_is_the_same_millisecond(when: object) -> None:
    assert to_ms(when) == T0 + 123  # type: ignore[arg-type]


def test_iso_text_round_trips_every_millisecond() -> None:
    for ms in range(T0, T0 + 1000):  # float seconds would miss some of them
        assert to_ms(iso(ms)) == ms
        assert to_ms(iso_ms(ms)) == ms  # and the platform's own form


def test_a_reading_is_timed_when_it_is_made_and_keeps_that_time() -> None:
    before = now_ms()
    made = reading(RegisteredDatastream(7, "Temperature", "Temperature/7"), 21.5)
    assert made["datastream"] == "Temperature/7"  # registration's key, not the free-text name
    assert before <= made["time"] <= now_ms()
    assert reading("s", {"on": True}, "2024-05-01T10:00:00Z", id="m-1") == {
        "datastream": "s",
        "time": T0,
        "value": {"on": True},
        "id": "m-1",
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("", 1), "non-empty name"),
        (("s", None), "got null"),
        (("s", float("nan")), "not a finite number"),
        (("s", 1, -1), "before 1970"),
        (("s", 1, datetime(2024, 5, 1)), "has no time zone"),  # noqa: DTZ001 - the point of the test
        (("s", 1, "yesterday"), "not ISO-8601"),
    ],
)
def test_a_reading_the_platform_would_reject_is_refused_at_once(
    args: tuple[object, ...], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        reading(*args)  # type: ignore[arg-type]


def test_many_readings_from_tuples_and_mappings_name_the_bad_one_by_index() -> None:
    made = readings_of([("a", 1, T0), {"datastream": "b", "value": "open", "time": T0}])
    assert made == [
        {"datastream": "a", "time": T0, "value": 1},
        {"datastream": "b", "time": T0, "value": "open"},
    ]
    with pytest.raises(ValueError, match=r"reading 1: unknown field 'valeu'"):
        readings_of([("a", 1), {"datastream": "b", "valeu": 2}])
    with pytest.raises(ValueError, match="reading 0: 'value' is missing"):
        readings_of([{"datastream": "b"}])

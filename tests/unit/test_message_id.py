"""A reading's message id never changes between versions: a reading re-sent after an upgrade must keep
the id it was stored under, or it would be stored twice. These are ids of iotstream 0.x."""

import pytest

from iotstream.models import message_id


@pytest.mark.parametrize(
    ("datastream", "time_ms", "value", "expected"),
    [
        ("s1", 0, 1.5, "cb3d083dbc85b82cbbb96495"),
        ("boiler/ü", 1_767_225_600_000, "on", "b264eb1a80284ab1ee7b93b6"),
        ("m", 1, {"x": [1, 2.5]}, "60900ce3f37c01cdaae753eb"),
    ],
)
def test_a_readings_id_is_the_one_earlier_versions_gave(
    datastream: str, time_ms: int, value: object, expected: str
) -> None:
    assert message_id(datastream, time_ms, value) == expected
    assert message_id(datastream, time_ms, value) == expected  # the shared empty hasher is not consumed

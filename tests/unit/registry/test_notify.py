"""The MQTT notification of a new reading, formatted as bytes, is the JSON document it stands for."""

from typing import Any

import msgspec
import pytest

from iotstream.models import Observation
from iotstream.registry.sensorthings.notify import ObservationMessages

BASE = 'http://sensors.example:8000/a "quoted" \\ path/v1.1'


@pytest.mark.parametrize("result", [71.5, 3, -0.0, 'on "air" ✓\n', {"a": [1, None]}, None, True, 2**70])
def test_an_observation_message_is_the_json_document_of_the_observation(result: Any) -> None:
    messages = ObservationMessages(BASE)
    observation = Observation("boiler-t", 1_714_557_600_123, result, 1_714_557_601_000, "m-1")
    topics, payload = messages(observation, 7)
    assert topics == ("v1.1/Datastreams(7)/Observations", "v1.1/Observations")
    own = f"{BASE}/Observations('7-1714557600123')"
    assert msgspec.json.decode(payload) == {
        "@iot.id": "7-1714557600123",
        "@iot.selfLink": own,
        "phenomenonTime": "2024-05-01T10:00:00.123Z",
        "resultTime": "2024-05-01T10:00:01Z",
        "result": result,
        "Datastream@iot.navigationLink": f"{own}/Datastream",
    }

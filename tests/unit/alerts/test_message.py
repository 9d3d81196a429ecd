"""Rendering notifications from an alert and the registry's Datastream record; checking settings."""

import pytest
from pydantic import ValidationError

from iotstream.alerts.config import NotifySettings
from iotstream.alerts.message import DEFAULT_TEMPLATE, context, render

ROW = {
    "name": "boiler-1",
    "unitOfMeasurement": {"name": "degree Celsius", "symbol": "°C"},
    "Thing": {"name": "Boiler 1", "Locations": [{"name": "Basement"}, {"name": "Building A"}]},
}
CLOSED = {"rule": "overheat", "datastream": "boiler-1", "event": "close", "state": "closed"}
CLOSED |= {"start": 60_000, "last": 180_000, "closed_at": 240_000, "duration_s": 120.0}
CLOSED |= {"max": 102.0, "avg": 101.14999, "threshold": 100.0, "direction": "above"}


def test_a_closed_episode_names_the_thing_its_places_and_the_unit() -> None:
    text = render(DEFAULT_TEMPLATE, context(CLOSED, ROW))
    assert text == (
        "[overheat] resolved: Boiler 1 (Basement, Building A), boiler-1: back at 1970-01-01T00:04:00Z;"
        " lasted 120 s, max 102 °C, avg 101.15 °C"
    )


def test_a_below_rule_and_a_staleness_alert_read_naturally() -> None:
    cold = CLOSED | {"event": "open", "state": "open", "direction": "below", "max": 3.5, "avg": 3.5}
    assert render("{summary}", context(cold, ROW)) == (
        "below 100 °C since 1970-01-01T00:01:00Z: max 3.5 °C, avg 3.5 °C"
    )
    silent = {"rule": "quiet", "kind": "staleness", "datastream": "x", "event": "open", "state": "open"}
    silent |= {"start": 0, "last": 0}
    assert render(DEFAULT_TEMPLATE, context(silent, None)) == (
        "[quiet] alert: x (unknown location), x: no data since 1970-01-01T00:00:00Z"
    )


def test_templates_may_format_the_raw_values_and_fall_back_where_they_cannot() -> None:
    template = NotifySettings(template="{thing}: {max:.1f}{unit} at {closed_at}").template
    assert render(template, context(CLOSED, ROW)) == "Boiler 1: 102.0°C at 1970-01-01T00:04:00Z"
    silent = CLOSED | {"kind": "staleness", "max": None, "avg": None}
    assert render(template, context(silent, ROW), "{thing} quiet") == "Boiler 1 quiet"


def test_a_template_with_an_unknown_field_is_refused_when_the_settings_load() -> None:
    with pytest.raises(ValidationError, match=r"does not render.*fields are: rule, datastream"):
        NotifySettings(template="{device_name} is hot")


def test_two_sinks_of_one_type_need_names() -> None:
    hook = {"type": "webhook", "url": "http://127.0.0.1:1/a"}
    with pytest.raises(ValidationError, match=r"distinct names.*\['webhook'\]"):
        NotifySettings.model_validate({"sinks": [hook, hook]})
    named = NotifySettings.model_validate({"sinks": [hook, hook | {"name": "second"}]})
    assert [sink.name for sink in named.sinks] == ["", "second"]

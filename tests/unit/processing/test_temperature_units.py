"""Threshold rules over temperatures declared in °C, °F and K: converted into the rule's unit."""

from typing import Any

import pytest
from pydantic import ValidationError

from iotstream.log.topics import REGISTRY_DATASTREAMS
from iotstream.processing.jobs import ThresholdSettings
from iotstream.processing.jobs._temperature import canonical_unit, declared_unit, to_unit
from iotstream.processing.jobs.threshold import threshold_job
from iotstream.processing.task import Task
from iotstream.registry.records import DATASTREAMS_TOPIC
from iotstream.testing import reading_record

M = 60_000


def _row(**unit: str | None) -> dict[str, Any]:
    return {"name": "x", "unitOfMeasurement": {"name": None, "symbol": None, "definition": None} | unit}


@pytest.mark.parametrize(
    ("value", "source", "target", "expected"),
    [
        (212.0, "degF", "degC", 100.0),
        (-40.0, "degF", "degC", -40.0),
        (373.15, "K", "degC", 100.0),
        (100.0, "degC", "degF", 212.0),
        (0.0, "degC", "K", 273.15),
        (32.0, "degF", "K", 273.15),
        (21.5, "degC", "degC", 21.5),
    ],
)
def test_conversions_computed_by_hand(value: float, source: str, target: str, expected: float) -> None:
    assert to_unit(value, source, target) == pytest.approx(expected, abs=1e-9)


def test_units_are_read_from_symbols_names_and_ucum_definitions() -> None:
    assert [canonical_unit(t) for t in ("°C", "degC", "Cel", "℉", "Fahrenheit", "K", "kelvin")] == [
        "degC", "degC", "degC", "degF", "degF", "K", "K"
    ]  # fmt: skip
    assert declared_unit(_row(definition="http://unitsofmeasure.org/ucum.html#[degF]")) == "degF"
    assert declared_unit(_row(definition="ucum:Cel")) == "degC"
    assert declared_unit(_row()) is None  # a placeholder declares nothing
    assert declared_unit(None) is None
    with pytest.raises(ValueError, match="unit '%' is not a temperature"):
        declared_unit(_row(symbol="%", name="percent"))


def test_a_rule_in_celsius_compares_readings_declared_in_fahrenheit_and_kelvin() -> None:
    settings = ThresholdSettings(
        type="threshold", name="hot", datastreams=["t-*"], above=30.0, hysteresis=1.0, unit="°C"
    )
    tables = {
        REGISTRY_DATASTREAMS: {
            "t-f": _row(symbol="°F", name="degree Fahrenheit"),
            "t-k": _row(symbol="K"),
            "t-c": _row(symbol="degC"),
            "t-none": _row(),
            "t-rh": _row(symbol="%", name="relative humidity"),
        }
    }
    task = Task(threshold_job(settings), 0, tables, clock=lambda: 0.0)
    # 86 °F = 30 °C (not above); 89.6 °F = 32 °C opens; 84.5 °F = 29.17 °C keeps (≥ 30 - 1);
    # 82.4 °F = 28 °C closes
    readings = [("t-k", 304.15, 0), ("t-c", 31.0, 0), ("t-none", 31.0, 0), ("t-rh", 95.0, 0)]
    readings += [("t-f", 86.0, 0), ("t-f", 89.6, M), ("t-f", 84.5, 2 * M), ("t-f", 82.4, 3 * M)]
    records = [reading_record(k, v, t, offset=i) for i, (k, v, t) in enumerate(readings)]
    out, rejected = task.process(records)
    out2 = task.finish()
    events = [(key, doc["event"], round(doc["max"], 9), doc["unit"]) for _, (key, doc, _) in out.to_topics]
    events += [(key, doc["event"], round(doc["max"], 9), doc["unit"]) for _, (key, doc, _) in out2.to_topics]
    assert rejected == []
    assert sorted(events) == [
        ("t-c", "open", 31.0, "°C"),
        ("t-f", "close", 32.0, "°C"),
        ("t-f", "open", 32.0, "°C"),
        ("t-f", "update", 32.0, "°C"),
        ("t-k", "open", 31.0, "°C"),  # 304.15 K
        ("t-none", "open", 31.0, "°C"),  # no declared unit: taken as the rule's
    ]
    assert [reason for _, reason in out.rejected] == [
        "join_table raised ValueError: the datastream's unit '%' is not a temperature in °C, °F or K"
    ]


def test_a_rule_unit_that_is_not_a_temperature_is_refused() -> None:
    with pytest.raises(ValidationError, match="not a temperature unit; use degC, degF or K"):
        ThresholdSettings(type="threshold", name="x", datastreams=["*"], above=1.0, unit="bar")


def test_the_registry_topic_name_is_the_one_jobs_join() -> None:
    assert DATASTREAMS_TOPIC == REGISTRY_DATASTREAMS

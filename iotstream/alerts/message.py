"""What a notification says: an alert event joined with its Datastream's registry record, rendered.

The registry record (`registry.datastreams`, keyed by the datastream's stream key) gives the Thing's name,
its Locations and the unit, so a message reads "Boiler 1 (Basement, Building A)" rather than a key.
Templates are `str.format` strings over the fields of `context()`; `summary` and `headline` are ready
to use, the raw values are there for templates of one's own (`{max:.1f}`). `max` and `avg` are None
for a staleness alert: where a template cannot render an alert, the default one is used.
"""

from typing import Any

from iotstream._units import iso_ms

__all__ = ["DEFAULT_SUBJECT", "DEFAULT_TEMPLATE", "check_template", "context", "render"]

DEFAULT_TEMPLATE = "[{rule}] {headline}: {thing} ({location}), {datastream}: {summary}"
DEFAULT_SUBJECT = "[iotstream] {rule} {headline}: {thing}"
_HEADLINES = {"open": "alert", "update": "ongoing", "close": "resolved"}


def context(alert: dict[str, Any], registry_row: dict[str, Any] | None) -> dict[str, Any]:
    """Every field a template may use. A datastream the registry does not know is named by its key."""
    thing, location, declared = _registry_facts(alert["datastream"], registry_row)
    unit = alert.get("unit") or declared  # a rule with a unit converted the values into it
    fields = {
        "rule": alert["rule"],
        "datastream": alert["datastream"],
        "event": alert["event"],
        "state": alert["state"],
        "kind": alert.get("kind", "threshold"),
        "headline": _HEADLINES.get(alert["event"], alert["event"]),
        "thing": thing,
        "location": location,
        "unit": unit,
        "start": iso_ms(alert["start"]),
        "last": iso_ms(alert["last"]),
        "closed_at": None if alert.get("closed_at") is None else iso_ms(alert["closed_at"]),
        "duration_s": alert.get("duration_s"),
        "max": alert.get("max"),
        "avg": alert.get("avg"),
        "threshold": alert.get("threshold"),
    }
    fields["summary"] = _summary(alert, fields)
    return fields


def render(template: str, fields: dict[str, Any], fallback: str | None = None) -> str:
    try:
        return template.format_map(fields)
    except (KeyError, IndexError, ValueError, TypeError, AttributeError):
        if fallback is None:
            raise
        return fallback.format_map(fields)


def check_template(template: str) -> str:
    """The template, if it renders a threshold alert; else why not (naming the fields there are)."""
    sample = {"rule": "r", "datastream": "d", "event": "open", "state": "open", "start": 0, "last": 0}
    sample |= {"max": 1.0, "avg": 1.0, "threshold": 1.0, "duration_s": 0.0}
    try:
        render(template, context(sample, None))
    except (KeyError, IndexError, ValueError, TypeError, AttributeError) as err:
        fields = ", ".join(context(sample, None))
        raise ValueError(f"template {template!r} does not render ({err!r}); fields are: {fields}") from err
    return template


def _registry_facts(datastream: str, row: dict[str, Any] | None) -> tuple[str, str, str]:
    if not isinstance(row, dict):
        return datastream, "unknown location", ""
    thing = row.get("Thing") or {}
    places = [str(place.get("name")) for place in thing.get("Locations") or [] if place.get("name")]
    unit = row.get("unitOfMeasurement") or {}
    symbol = unit.get("symbol") or unit.get("name") or ""
    return str(thing.get("name") or datastream), ", ".join(places) or "unknown location", str(symbol)


def _summary(alert: dict[str, Any], fields: dict[str, Any]) -> str:
    unit = f" {fields['unit']}" if fields["unit"] else ""
    lasted = _number(alert.get("duration_s") or 0)
    if fields["kind"] == "staleness":
        if alert["event"] == "close":
            return f"data again at {fields['closed_at']} after {lasted} s of silence"
        return f"no data since {fields['start']}"
    if alert.get("max") is None:
        return f"since {fields['start']}"
    direction = alert.get("direction", "above")
    values = f"max {_number(alert['max'])}{unit}, avg {_number(alert['avg'])}{unit}"
    if alert["event"] == "close":
        return f"back at {fields['closed_at']}; lasted {lasted} s, {values}"
    return f"{direction} {_number(alert.get('threshold'))}{unit} since {fields['start']}: {values}"


def _number(value: Any) -> str:
    return f"{round(value, 2):g}" if isinstance(value, int | float) else str(value)

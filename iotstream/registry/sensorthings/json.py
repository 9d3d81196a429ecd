"""Catalog rows as SensorThings JSON: `@iot.id`, `@iot.selfLink`, properties, navigation links."""

from typing import Any

from iotstream._units import iso_ms
from iotstream.registry.sensorthings.entities import EntitySet, Property

__all__ = ["entity_json", "link_path", "next_link", "property_value"]


def link_path(entities: EntitySet, entity_id: Any) -> str:
    return (
        f"{entities.name}({entity_id})" if isinstance(entity_id, int) else f"{entities.name}('{entity_id}')"
    )


def property_value(prop: Property, row: Any) -> Any:
    value = getattr(row, prop.column)
    if prop.kind == "time" and value is not None:
        return iso_ms(value)
    if prop.kind == "interval" and value is not None:
        return f"{iso_ms(value)}/{iso_ms(getattr(row, prop.end))}"
    return value


def entity_json(entities: EntitySet, row: Any, base: str, select: tuple[str, ...] = ()) -> dict[str, Any]:
    """Every property and link, or only those in `select` (`id` selects `@iot.id`)."""
    wanted = set(select)
    own = f"{base}/{link_path(entities, row.id)}"
    document: dict[str, Any] = {}
    if not wanted or wanted & {"id", "@iot.id"}:
        document["@iot.id"] = row.id
    if not wanted or "@iot.selfLink" in wanted:
        document["@iot.selfLink"] = own
    for prop in entities.properties:
        if not wanted or prop.json in wanted:
            document[prop.json] = property_value(prop, row)
    for link in entities.links:
        if not wanted or link.json in wanted:
            document[f"{link.json}@iot.navigationLink"] = f"{own}/{link.json}"
    return document


def next_link(page_url: str, skip: int, top: int) -> str:
    """The request of `page_url` for the next page: its own options with `$top` and `$skip` set."""
    base, _, options = page_url.partition("?")
    kept = [
        o for o in options.split("&") if o and not o.startswith(("$skip=", "%24skip=", "$top=", "%24top="))
    ]
    kept += [f"%24top={top}", f"%24skip={skip}"]
    return f"{base}?{'&'.join(kept)}"

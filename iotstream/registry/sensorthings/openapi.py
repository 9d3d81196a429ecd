"""The SensorThings paths of the OpenAPI document, one per entity set, entity and link.

The routes themselves are catch-alls (`/v1.1/{path}` parsed by `paths.parse_path`), because the
standard's resource paths nest without end (`Things(1)/Datastreams(2)/Observations`). A client, a
fuzzer or a reader of `/docs` needs the real shapes instead, so they are written out here from the
entity-set tables: a path the document names is one the parser takes.
"""

from typing import Any

from iotstream.registry.sensorthings.entities import ENTITY_SETS, OBSERVATIONS, EntitySet, Link

__all__ = ["ERROR_SCHEMA", "documented_error", "sensorthings_paths"]

PREFIX = "/v1.1"
ERROR_SCHEMA = {
    "type": "object",
    "required": ["code", "type", "message"],
    "properties": {"code": {"type": "integer"}, "type": {"type": "string"}, "message": {"type": "string"}},
}
_TAG = ["SensorThings"]
_ENTITY = {"type": "object", "additionalProperties": True}
_COLLECTION = {
    "type": "object",
    "required": ["value"],
    "properties": {
        "value": {"type": "array", "items": _ENTITY},
        "@iot.count": {"type": "integer"},
        "@iot.nextLink": {"type": "string"},
    },
}
_QUERY_OPTIONS = {
    "$filter": ("string", "An OData filter, e.g. `result gt 20 and phenomenonTime ge 2024-01-01T00:00:00Z`"),
    "$expand": ("string", "Linked entities to include, e.g. `Datastreams($top=1)/Observations`"),
    "$select": ("string", "Properties to include, e.g. `name,description`"),
    "$orderby": ("string", "Properties to order by, e.g. `phenomenonTime desc`"),
    "$top": ("integer", "At most this many entities"),
    "$skip": ("integer", "Skip this many entities"),
    "$count": ("boolean", "Include `@iot.count`, the number of entities matching"),
}


def documented_error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": ERROR_SCHEMA}}}


_BAD = {"400": documented_error("A path, query option or body the server cannot use; `message` says why")}
_MISSING = {"404": documented_error("No such entity, or nothing links there")}
_CONFLICT = {"409": documented_error("Another entity uses it, or a stream key is taken")}


def _ok(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_CREATED = {"201": _ok(_ENTITY, "The entity created, at `Location`")}


def _query_parameters(*, collection: bool) -> list[dict[str, Any]]:
    names = _QUERY_OPTIONS if collection else ("$expand", "$select")
    return [
        {"name": name, "in": "query", "required": False, "description": _QUERY_OPTIONS[name][1]}
        | {"schema": {"type": _QUERY_OPTIONS[name][0]}}
        for name in names
    ]


def _id_parameter(entity_set: EntitySet) -> dict[str, Any]:
    """Observations have text ids in quotes (`Observations('…')`), the rest numbers."""
    quoted = entity_set is OBSERVATIONS
    schema = {"type": "string", "pattern": r"^'[^']+'$"} if quoted else {"type": "integer", "minimum": 1}
    return {"name": "id", "in": "path", "required": True, "schema": schema}


def _body(entity_set: EntitySet, *, creating: bool) -> dict[str, Any]:
    required = [p.json for p in entity_set.properties if p.required and not p.computed] if creating else []
    schema = {"type": "object", "additionalProperties": True} | ({"required": required} if required else {})
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _collection(entity_set: EntitySet) -> dict[str, Any]:
    name = entity_set.name
    return {
        "get": {
            "tags": _TAG,
            "summary": f"{name}, a page at a time",
            "parameters": _query_parameters(collection=True),
            "responses": {"200": _ok(_COLLECTION, f"A page of {name}")} | _BAD,
        },
        "post": {
            "tags": _TAG,
            "summary": f"Create a {entity_set.singular} (deep insert allowed)",
            "requestBody": _body(entity_set, creating=True),
            "responses": _CREATED | _BAD | _CONFLICT,
        },
    }


def _entity(entity_set: EntitySet) -> dict[str, Any]:
    one = entity_set.singular
    changed = {"200": {"description": f"The {one} is changed"}} | _BAD | _MISSING | _CONFLICT
    return {
        "parameters": [_id_parameter(entity_set)],
        "get": {
            "tags": _TAG,
            "summary": f"One {one}",
            "parameters": _query_parameters(collection=False),
            "responses": {"200": _ok(_ENTITY, f"The {one}")} | _BAD | _MISSING,
        },
        "patch": {
            "tags": _TAG,
            "summary": f"Change a {one}: JSON merge, or JSON patch (application/json-patch+json)",
            "requestBody": _body(entity_set, creating=False),
            "responses": changed,
        },
        "put": {
            "tags": _TAG,
            "summary": f"Replace a {one}",
            "requestBody": _body(entity_set, creating=True),
            "responses": changed,
        },
        "delete": {
            "tags": _TAG,
            "summary": f"Delete a {one} that nothing uses any more",
            "responses": {"200": {"description": f"The {one} is deleted"}} | _BAD | _MISSING | _CONFLICT,
        },
    }


def _linked(entity_set: EntitySet, link: Link) -> dict[str, Any]:
    many, name = link.many, link.json
    found = _ok(_COLLECTION, f"The linked {name}") if many else _ok(_ENTITY, f"The linked {name}")
    nothing = {} if many else {"204": {"description": f"No {name} is linked"}}
    item: dict[str, Any] = {
        "parameters": [_id_parameter(entity_set)],
        "get": {
            "tags": _TAG,
            "summary": f"The {name} of a {entity_set.singular}",
            "parameters": _query_parameters(collection=many),
            "responses": {"200": found} | nothing | _BAD | _MISSING,
        },
    }
    if many:
        target = ENTITY_SETS[link.target]
        item["post"] = {
            "tags": _TAG,
            "summary": f"Create a {target.singular} linked to this {entity_set.singular}",
            "requestBody": _body(target, creating=False),
            "responses": {"201": _ok(_ENTITY, "The entity created, at `Location`")}
            | _BAD
            | _MISSING
            | _CONFLICT,
        }
    return item


def sensorthings_paths() -> dict[str, dict[str, Any]]:
    """Every entity set, entity and first-level link as an OpenAPI path item."""
    paths: dict[str, dict[str, Any]] = {}
    for name, entity_set in ENTITY_SETS.items():
        paths[f"{PREFIX}/{name}"] = _collection(entity_set)
        paths[f"{PREFIX}/{name}({{id}})"] = _entity(entity_set)
        for link in entity_set.links:
            paths[f"{PREFIX}/{name}({{id}})/{link.json}"] = _linked(entity_set, link)
    return paths

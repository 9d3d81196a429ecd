"""Stream keys: the unique, stable name a Datastream's readings travel and are stored under.

A SensorThings `name` is free text and may repeat ("Temperature" on every Thing), so it cannot key
readings. The key is chosen once, when the Datastream is created, and never changes:

- a Datastream registered by ingestion (a device sent `{"datastream": "TH1"}`) has the key it was sent as;
- one created through SensorThings takes `properties.key` when the client gives one, else its name
  when no Datastream has that key yet, else `<name>/<@iot.id>`, unique by construction.

So a catalog whose names are unique keeps the keys its users already send to, and the second
"Temperature" gets one that says which Datastream it is. MultiDatastreams take keys the same way, from
the same key space. The key is shown in `properties.key`, where
every SensorThings client sees it and `$filter=properties/key eq 'TH1'` finds it.

A tenant's Datastream is stored under its tenant's key (`@acme/TH1`, see `access.principal`) and shows
the name the tenant sends to (`TH1`) in `properties.key`; keys are unique within a tenant.
"""

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from iotstream.registry import models
from iotstream.registry.access.principal import DEFAULT_TENANT, Scope
from iotstream.registry.sensorthings.errors import BadRequest, Conflict

__all__ = ["KEY_PROPERTY", "assign_key", "keep_key", "provisional_key", "shown_key"]

KEY_PROPERTY = "key"
_MAX_LENGTH = 255


def provisional_key(datastream: models.Stream) -> None:
    """A unique stand-in, so the row can be flushed (nested Observations do) before `assign_key`."""
    datastream.key = f"(provisional) {uuid.uuid4().hex}"


def assign_key(session: Session, datastream: models.Stream) -> None:
    """Give a new Datastream, once its links are set, its key (see the module docstring)."""
    wanted = (datastream.properties or {}).get(KEY_PROPERTY)
    named = datastream.name.lstrip("@") or "datastream"  # a leading '@' marks tenants' keys
    if wanted is not None:
        _check(wanted)
        if _taken(session, datastream, wanted):
            raise Conflict(f"a Datastream with key {wanted!r} exists already; stream keys are unique")
        _set(datastream, wanted)
    elif not _taken(session, datastream, named) and len(named) <= _MAX_LENGTH:
        _set(datastream, named)
    else:
        session.flush()  # for the id the key is named after
        key = f"{named[: _MAX_LENGTH - 20]}/{datastream.id}"
        if _taken(session, datastream, key):  # a device already sends to "Temperature/7"
            key = f"{key}~{uuid.uuid4().hex[:6]}"
        _set(datastream, key)


def keep_key(datastream: models.Stream, properties: Any) -> None:
    """After an update: `properties.key` may be repeated or left out, never changed."""
    shown = shown_key(datastream)
    given = (properties or {}).get(KEY_PROPERTY, shown) if isinstance(properties, dict) else None
    if given != shown and given is not None:
        raise BadRequest(
            f"Datastream {datastream.id} has the stream key {shown!r}, which never changes (its"
            f" readings are stored under it); properties.key cannot become {given!r}"
        )
    _set(datastream, shown)


def shown_key(datastream: models.Stream) -> str:
    """The key as the Datastream's tenant sends to it."""
    return datastream.key.removeprefix(Scope(datastream.tenant or DEFAULT_TENANT).prefix)


def _set(datastream: models.Stream, shown: str) -> None:
    datastream.key = Scope(datastream.tenant or DEFAULT_TENANT).prefix + shown
    datastream.properties = {**(datastream.properties or {}), KEY_PROPERTY: shown}


def _check(key: Any) -> None:
    if not isinstance(key, str) or not key.strip() or len(key) > _MAX_LENGTH:
        raise BadRequest(
            f"properties.key is the Datastream's stream key: a non-empty text of at most {_MAX_LENGTH}"
            f" characters, got {key!r}"
        )
    if key.startswith("@"):
        raise BadRequest(f"properties.key {key!r}: keys beginning with '@' are reserved for tenants")


def _taken(session: Session, datastream: models.Stream, shown: str) -> bool:
    """Also sees Datastreams created earlier in the same request and not flushed yet."""
    key = Scope(datastream.tenant or DEFAULT_TENANT).prefix + shown
    pending = any(
        isinstance(row, models.Stream) and row is not datastream and row.key == key for row in session.new
    )
    with session.no_autoflush:
        found = session.scalar(select(models.Stream.id).where(models.Stream.key == key))
    return pending or (found is not None and found != datastream.id)

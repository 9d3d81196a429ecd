"""What a committed catalog transaction tells its listeners (the registry topics, the MQTT extension)."""

from pathlib import Path

import pytest
from sqlalchemy import func, select

from iotstream.registry.catalog import open_catalog
from iotstream.registry.changes import Changes
from iotstream.registry.models import Location, Thing


def test_listeners_hear_created_changed_and_deleted_rows_after_the_commit(tmp_path: Path) -> None:
    catalog = open_catalog(f"sqlite:///{tmp_path}/catalog.db")
    heard: list[Changes] = []
    catalog.on_commit.append(heard.append)
    with catalog.session(write=True) as session:
        thing = Thing(name="boiler", description="")
        cellar = Location(name="cellar", description="", encoding_type="text/plain", location="x")
        thing.locations.append(cellar)
        session.add(thing)
    with catalog.session(write=True) as session:
        session.get(Thing, thing.id).name = "boiler 2"  # type: ignore[union-attr]
    with catalog.session(write=True) as session:
        session.delete(session.get(Location, cellar.id))
    with catalog.session() as session:  # reading commits nothing to tell
        session.scalars(select(Thing)).all()
    catalog.close()
    created, renamed, deleted = heard
    assert {type(row).__name__ for row in created.created} == {"Thing", "Location"}
    assert [(type(row).__name__, attributes) for row, attributes in renamed.updated.items()] == [
        ("Thing", {"name"})
    ]
    assert deleted.ids(Location) == {cellar.id}
    assert deleted.ids(Thing) == {thing.id}  # it lost a Location: its records change too


def test_a_listener_that_fails_is_logged_and_the_commit_stands(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    catalog = open_catalog(f"sqlite:///{tmp_path}/catalog.db")
    heard: list[set[int]] = []
    catalog.on_commit.append(lambda changes: [][0])
    catalog.on_commit.append(lambda changes: heard.append(changes.ids(Thing)))
    with catalog.session(write=True) as session:
        session.add(Thing(name="boiler", description=""))
    with catalog.session() as session:
        assert session.scalar(select(func.count()).select_from(Thing)) == 1
    catalog.close()
    assert heard == [{1}]
    assert "after a catalog commit" in caplog.text

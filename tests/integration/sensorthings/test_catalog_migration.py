"""A catalog made before stream keys (revision 0001, names unique) upgrades itself on open: every
Datastream's key is its old name, so the readings stored under that name stay its own, and names may
repeat from then on; rows referring to Datastreams (Observation extras) survive SQLite's rebuild of
the table. On both catalogs."""

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from iotstream.registry import models
from iotstream.registry.catalog import _MIGRATIONS, _engine, open_catalog

from .conftest import _fresh_database

ROWS = """
INSERT INTO things (id, name, description) VALUES (1, 'boiler', '');
INSERT INTO sensors (id, name, description, encoding_type, metadata) VALUES (1, 's', '', 'text/plain', '"m"');
INSERT INTO observed_properties (id, name, definition, description) VALUES (1, 't', 'd', '');
INSERT INTO datastreams (id, name, description, observation_type, properties, placeholder, thing_id,
  sensor_id, observed_property_id) VALUES (1, 'TH1', '', 'm', '{"floor": 2}', false, 1, 1, 1),
  (2, 'W1', '', 'm', NULL, true, 1, 1, 1);
INSERT INTO features_of_interest (id, name, description, encoding_type, feature)
  VALUES (1, 'cellar', '', 'text/plain', '"down"');
INSERT INTO observation_extras (datastream_id, phenomenon_time_ms, parameters, feature_of_interest_id)
  VALUES (1, 1700000000000, '{"battery": 0.8}', 1);
"""


@pytest.fixture(params=["sqlite", "postgresql"])
def catalog_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'registry.db'}"
    url: str = _fresh_database(request.getfixturevalue("postgres_url"))
    return url


def test_an_old_catalog_gets_keys_from_its_names_and_names_may_repeat_afterwards(catalog_url: str) -> None:
    engine = _engine(catalog_url)
    with engine.begin() as connection:
        config = Config()
        config.set_main_option("script_location", str(_MIGRATIONS))
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")
        for statement in filter(str.strip, ROWS.split(";")):
            connection.execute(sa.text(statement))
    engine.dispose()

    catalog = open_catalog(catalog_url)
    with catalog.session(write=True) as session:
        rows = session.scalars(sa.select(models.Datastream).order_by(models.Datastream.id)).all()
        assert [(d.key, d.name, d.properties) for d in rows] == [
            ("TH1", "TH1", {"floor": 2, "key": "TH1"}),
            ("W1", "W1", {"key": "W1"}),
        ]
        extras = session.get_one(models.ObservationExtras, (1, 1_700_000_000_000))  # the rebuilt table's
        assert (extras.parameters, extras.feature_of_interest_id) == ({"battery": 0.8}, 1)
        session.add(_datastream(3, key="TH1/3", name="TH1"))  # a second "TH1" by name
    with catalog.session(write=True) as session:
        session.add(_datastream(4, key="W1", name="other"))  # but keys stay unique
        with pytest.raises(sa.exc.IntegrityError, match="key"):
            session.flush()
        session.rollback()
    catalog.close()


def _datastream(id_: int, key: str, name: str) -> models.Datastream:
    """With its id: rows inserted with explicit ids leave PostgreSQL's sequence behind."""
    return models.Datastream(
        id=id_, key=key, name=name, observation_type="m", thing_id=1, sensor_id=1, observed_property_id=1
    )

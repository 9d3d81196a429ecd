"""The migrations build exactly the tables the models describe."""

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from iotstream.registry.access import models as access_models
from iotstream.registry.catalog import open_catalog
from iotstream.registry.models import Base


def test_a_migrated_catalog_matches_the_models(tmp_path: Path) -> None:
    assert access_models.ApiToken.__table__.metadata is Base.metadata
    catalog = open_catalog(f"sqlite:///{tmp_path}/registry.db")
    with catalog.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    catalog.close()
    postgres_only = "ix_datastreams_name_pattern"  # migration 0005 makes it on PostgreSQL alone
    assert [d for d in differences if not (d[0] == "add_index" and d[1].name == postgres_only)] == []

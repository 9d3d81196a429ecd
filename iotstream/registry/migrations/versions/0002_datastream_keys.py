"""datastream keys: names become free text, readings keep travelling under a unique stream key

Every existing Datastream's key is its name, which was unique until now, so the readings, job results
and alerts already stored under that name stay its own without touching the time-series store.

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# SQLite reflects the unnamed UNIQUE(name) of 0001 without a name; this names it so it can be dropped.
_NAMING = {"uq": "uq_%(table_name)s_%(column_0_name)s"}


def upgrade() -> None:
    with op.batch_alter_table("datastreams") as batch_op:
        batch_op.add_column(sa.Column("key", sa.String(length=255), nullable=True))
    _copy_names_to_keys()
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        op.drop_constraint("datastreams_name_key", "datastreams", type_="unique")
    with op.batch_alter_table("datastreams", naming_convention=_NAMING) as batch_op:
        if not postgres:
            batch_op.drop_constraint("uq_datastreams_name", type_="unique")
        batch_op.alter_column("key", existing_type=sa.String(length=255), nullable=False)
        batch_op.create_index(batch_op.f("ix_datastreams_key"), ["key"], unique=True)
        batch_op.create_index(batch_op.f("ix_datastreams_name"), ["name"], unique=False)


def _copy_names_to_keys() -> None:
    """The key is also shown in the Datastream's `properties`, where SensorThings clients see it."""
    bind = op.get_bind()
    table = sa.table(
        "datastreams",
        sa.column("id", sa.Integer()),
        sa.column("name", sa.String()),
        sa.column("key", sa.String()),
        sa.column("properties", sa.JSON()),
    )
    rows = bind.execute(sa.select(table.c.id, table.c.name, table.c.properties)).all()
    for row_id, name, properties in rows:
        bind.execute(
            table.update()
            .where(table.c.id == row_id)
            .values(key=name, properties={**(properties or {}), "key": name})
        )


def downgrade() -> None:
    with op.batch_alter_table("datastreams") as batch_op:
        batch_op.drop_index(batch_op.f("ix_datastreams_name"))
        batch_op.drop_index(batch_op.f("ix_datastreams_key"))
        batch_op.drop_column("key")
        batch_op.create_unique_constraint("datastreams_name_key", ["name"])

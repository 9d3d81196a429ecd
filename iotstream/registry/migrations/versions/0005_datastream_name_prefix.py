"""datastream name prefixes: `startswith(name, …)` answered from an index on PostgreSQL

A btree index in the database's collation cannot answer `LIKE 'prefix%'`; one with the pattern
operator class can. SQLite's LIKE is case-insensitive and uses no index either way.

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.create_index(
            "ix_datastreams_name_pattern",
            "datastreams",
            ["name"],
            postgresql_ops={"name": "varchar_pattern_ops"},
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_datastreams_name_pattern", table_name="datastreams")

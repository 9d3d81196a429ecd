"""stream apps: each tenant's SQL apps, the tenants they share their output with, and their status

Revision ID: 0009
Revises: 0008
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON_VALUE = sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")


def upgrade() -> None:
    op.create_table(
        "stream_apps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant", sa.String(length=63), nullable=False),
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("sql", sa.Text(), nullable=False),
        sa.Column("out_of_orderness_ms", sa.BigInteger(), nullable=False),
        sa.Column("allowed_lateness_ms", sa.BigInteger(), nullable=False),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("declared", sa.Boolean(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.Column("status", JSON_VALUE, nullable=True),
        sa.Column("status_ms", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tenant", "name"),
    )
    op.create_index(op.f("ix_stream_apps_tenant"), "stream_apps", ["tenant"], unique=False)
    op.create_table(
        "app_shares",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("app_id", sa.Integer(), nullable=False),
        sa.Column("tenant", sa.String(length=63), nullable=False),
        sa.ForeignKeyConstraint(["app_id"], ["stream_apps.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("app_id", "tenant"),
    )
    op.create_index(op.f("ix_app_shares_app_id"), "app_shares", ["app_id"], unique=False)
    op.create_index(op.f("ix_app_shares_tenant"), "app_shares", ["tenant"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_app_shares_tenant"), table_name="app_shares")
    op.drop_index(op.f("ix_app_shares_app_id"), table_name="app_shares")
    op.drop_table("app_shares")
    op.drop_index(op.f("ix_stream_apps_tenant"), table_name="stream_apps")
    op.drop_table("stream_apps")

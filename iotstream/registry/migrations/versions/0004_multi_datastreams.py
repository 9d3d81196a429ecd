"""multi datastreams: SensorThings' MultiDatastream extension, in the datastreams table

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON_VALUE = sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("datastreams") as batch_op:
        batch_op.add_column(sa.Column("kind", sa.String(length=16), server_default="single", nullable=False))
        batch_op.add_column(sa.Column("unit_of_measurements", JSON_VALUE, nullable=True))
        batch_op.add_column(sa.Column("multi_observation_data_types", JSON_VALUE, nullable=True))
        batch_op.alter_column("observed_property_id", existing_type=sa.Integer(), nullable=True)
    op.create_table(
        "multi_datastream_observed_properties",
        sa.Column("multi_datastream_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("observed_property_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["multi_datastream_id"], ["datastreams.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["observed_property_id"], ["observed_properties.id"]),
        sa.PrimaryKeyConstraint("multi_datastream_id", "position"),
    )
    op.create_index(
        "ix_multi_datastream_observed_properties_observed_property_id",
        "multi_datastream_observed_properties",
        ["observed_property_id"],
    )


def downgrade() -> None:
    op.drop_table("multi_datastream_observed_properties")
    with op.batch_alter_table("datastreams") as batch_op:
        batch_op.alter_column("observed_property_id", existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column("multi_observation_data_types")
        batch_op.drop_column("unit_of_measurements")
        batch_op.drop_column("kind")

"""catalog: the SensorThings entities

Revision ID: 0001
Revises: -
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON_VALUE = sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")


def upgrade() -> None:
    op.create_table(
        "locations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("encoding_type", sa.String(length=255), nullable=False),
        sa.Column("location", JSON_VALUE, nullable=False),
        sa.Column("properties", JSON_VALUE, nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("locations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_locations_name"), ["name"], unique=False)

    op.create_table(
        "observed_properties",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("definition", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("properties", JSON_VALUE, nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("observed_properties", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_observed_properties_name"), ["name"], unique=False)

    op.create_table(
        "sensors",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("encoding_type", sa.String(length=255), nullable=False),
        sa.Column("metadata", JSON_VALUE, nullable=False),
        sa.Column("properties", JSON_VALUE, nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("sensors", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sensors_name"), ["name"], unique=False)

    op.create_table(
        "things",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("properties", JSON_VALUE, nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("things", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_things_name"), ["name"], unique=False)

    op.create_table(
        "datastreams",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("observation_type", sa.Text(), nullable=False),
        sa.Column("unit_of_measurement", JSON_VALUE, nullable=True),
        sa.Column("observed_area", JSON_VALUE, nullable=True),
        sa.Column("properties", JSON_VALUE, nullable=True),
        sa.Column("placeholder", sa.Boolean(), nullable=False),
        sa.Column("thing_id", sa.Integer(), nullable=False),
        sa.Column("sensor_id", sa.Integer(), nullable=False),
        sa.Column("observed_property_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["observed_property_id"],
            ["observed_properties.id"],
        ),
        sa.ForeignKeyConstraint(
            ["sensor_id"],
            ["sensors.id"],
        ),
        sa.ForeignKeyConstraint(
            ["thing_id"],
            ["things.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    with op.batch_alter_table("datastreams", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_datastreams_observed_property_id"), ["observed_property_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_datastreams_sensor_id"), ["sensor_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_datastreams_thing_id"), ["thing_id"], unique=False)

    op.create_table(
        "features_of_interest",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("encoding_type", sa.String(length=255), nullable=False),
        sa.Column("feature", JSON_VALUE, nullable=False),
        sa.Column("properties", JSON_VALUE, nullable=True),
        sa.Column("location_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["location_id"], ["locations.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("features_of_interest", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_features_of_interest_location_id"), ["location_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_features_of_interest_name"), ["name"], unique=False)

    op.create_table(
        "historical_locations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("time_ms", sa.BigInteger(), nullable=False),
        sa.Column("thing_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["thing_id"], ["things.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("historical_locations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_historical_locations_thing_id"), ["thing_id"], unique=False)

    op.create_table(
        "thing_locations",
        sa.Column("thing_id", sa.Integer(), nullable=False),
        sa.Column("location_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["location_id"], ["locations.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["thing_id"], ["things.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("thing_id", "location_id"),
    )
    with op.batch_alter_table("thing_locations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_thing_locations_location_id"), ["location_id"], unique=False)

    op.create_table(
        "historical_location_locations",
        sa.Column("historical_location_id", sa.Integer(), nullable=False),
        sa.Column("location_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["historical_location_id"], ["historical_locations.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["location_id"], ["locations.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("historical_location_id", "location_id"),
    )
    with op.batch_alter_table("historical_location_locations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_historical_location_locations_location_id"), ["location_id"], unique=False
        )

    op.create_table(
        "observation_extras",
        sa.Column("datastream_id", sa.Integer(), nullable=False),
        sa.Column("phenomenon_time_ms", sa.BigInteger(), nullable=False),
        sa.Column("phenomenon_end_ms", sa.BigInteger(), nullable=True),
        sa.Column("valid_time", sa.Text(), nullable=True),
        sa.Column("result_quality", JSON_VALUE, nullable=True),
        sa.Column("parameters", JSON_VALUE, nullable=True),
        sa.Column("feature_of_interest_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["datastream_id"],
            ["datastreams.id"],
        ),
        sa.ForeignKeyConstraint(
            ["feature_of_interest_id"],
            ["features_of_interest.id"],
        ),
        sa.PrimaryKeyConstraint("datastream_id", "phenomenon_time_ms"),
    )
    with op.batch_alter_table("observation_extras", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_observation_extras_feature_of_interest_id"),
            ["feature_of_interest_id"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("observation_extras", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_observation_extras_feature_of_interest_id"))

    op.drop_table("observation_extras")
    with op.batch_alter_table("historical_location_locations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_historical_location_locations_location_id"))

    op.drop_table("historical_location_locations")
    with op.batch_alter_table("thing_locations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_thing_locations_location_id"))

    op.drop_table("thing_locations")
    with op.batch_alter_table("historical_locations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_historical_locations_thing_id"))

    op.drop_table("historical_locations")
    with op.batch_alter_table("features_of_interest", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_features_of_interest_name"))
        batch_op.drop_index(batch_op.f("ix_features_of_interest_location_id"))

    op.drop_table("features_of_interest")
    with op.batch_alter_table("datastreams", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_datastreams_thing_id"))
        batch_op.drop_index(batch_op.f("ix_datastreams_sensor_id"))
        batch_op.drop_index(batch_op.f("ix_datastreams_observed_property_id"))

    op.drop_table("datastreams")
    with op.batch_alter_table("things", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_things_name"))

    op.drop_table("things")
    with op.batch_alter_table("sensors", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sensors_name"))

    op.drop_table("sensors")
    with op.batch_alter_table("observed_properties", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_observed_properties_name"))

    op.drop_table("observed_properties")
    with op.batch_alter_table("locations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_locations_name"))

    op.drop_table("locations")

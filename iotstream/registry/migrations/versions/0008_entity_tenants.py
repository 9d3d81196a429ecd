"""entity tenants: every SensorThings entity belongs to a tenant (`default` for those made before)

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = (
    "things",
    "locations",
    "historical_locations",
    "sensors",
    "observed_properties",
    "features_of_interest",
    "datastreams",
)


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(
                sa.Column("tenant", sa.String(length=63), server_default="default", nullable=False)
            )
            batch_op.create_index(batch_op.f(f"ix_{table}_tenant"), ["tenant"], unique=False)


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(batch_op.f(f"ix_{table}_tenant"))
            batch_op.drop_column("tenant")

"""command transports: which way a command reaches its device (MQTT or LwM2M)

A command to a device of this platform goes over MQTT unless the device is a registered LwM2M
endpoint; a command to another site's device has none (that site decides). Every earlier command
was an MQTT one.

Revision ID: 0010
Revises: 0009
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("commands", schema=None) as batch_op:
        batch_op.add_column(sa.Column("transport", sa.String(length=16), nullable=True))
    op.execute("UPDATE commands SET transport = 'mqtt' WHERE site IS NULL")


def downgrade() -> None:
    with op.batch_alter_table("commands", schema=None) as batch_op:
        batch_op.drop_column("transport")

"""commands: device commands with tickets, and where each one stands

A row per command: what the device is asked (action, path, value), its state (queued, sent,
delivered, succeeded, failed, expired), the device's answer, and for a command relayed from another
site the last state reported back to it.

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON_VALUE = sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")


def upgrade() -> None:
    op.create_table(
        "commands",
        sa.Column("ticket", sa.String(length=64), nullable=False),
        sa.Column("site", sa.String(length=255), nullable=True),
        sa.Column("device", sa.String(length=255), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("value", JSON_VALUE, nullable=True),
        sa.Column("timeout_ms", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("result", JSON_VALUE, nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("expires_ms", sa.BigInteger(), nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.Column("relayed", sa.Boolean(), nullable=False),
        sa.Column("reported", sa.String(length=16), nullable=True),
        sa.PrimaryKeyConstraint("ticket"),
    )
    with op.batch_alter_table("commands", schema=None) as batch_op:
        batch_op.create_index("ix_commands_state_expires_ms", ["state", "expires_ms"], unique=False)
        batch_op.create_index("ix_commands_created_ms", ["created_ms"], unique=False)
        batch_op.create_index(batch_op.f("ix_commands_site"), ["site"], unique=False)
        batch_op.create_index(batch_op.f("ix_commands_device"), ["device"], unique=False)


def downgrade() -> None:
    op.drop_table("commands")

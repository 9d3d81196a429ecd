"""datastream spans: the phenomenonTime and resultTime intervals of a Datastream's readings

Kept from now on as readings arrive; a Datastream's readings stored before this revision are not
scanned for them (their spans start with the next reading).

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = ("phenomenon_start_ms", "phenomenon_end_ms", "result_start_ms", "result_end_ms")


def upgrade() -> None:
    with op.batch_alter_table("datastreams") as batch_op:
        for name in _COLUMNS:
            batch_op.add_column(sa.Column(name, sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("datastreams") as batch_op:
        for name in _COLUMNS:
            batch_op.drop_column(name)

"""The user's surveillance opt-in on each identification (identifications.shared).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-08 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Identifications sent before the opt-in reached the server were not shared: false.
    with op.batch_alter_table("identifications") as batch:
        batch.add_column(
            sa.Column("shared", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("identifications") as batch:
        batch.drop_column("shared")

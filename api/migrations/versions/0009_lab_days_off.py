"""The lab's days off (lab_capacity.days_off): dates nobody answers though their weekday is
worked, so that the waits shown walk past holidays and planned absences.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-08 04:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("lab_capacity") as batch:
        batch.add_column(sa.Column("days_off", sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("lab_capacity") as batch:
        batch.drop_column("days_off")

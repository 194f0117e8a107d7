"""Shareable reference photos: the users' consent (users.share_photos) and the specialists' marks
(photos.reference_by, photos.reference_at).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07 17:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("share_photos", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("photos", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reference_by", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("reference_at", sa.DateTime(), nullable=True))
        batch_op.create_foreign_key("fk_photos_reference_by", "users", ["reference_by"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("photos", schema=None) as batch_op:
        batch_op.drop_constraint("fk_photos_reference_by", type_="foreignkey")
        batch_op.drop_column("reference_at")
        batch_op.drop_column("reference_by")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("share_photos")

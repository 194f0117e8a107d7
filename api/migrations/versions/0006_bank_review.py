"""The bank review: bank photos flagged as possibly mislabelled (bank_review_items) and the
specialists' decisions on them (bank_review_decisions).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-09 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "bank_review_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("file", sa.String(length=512), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("bank_label", sa.String(length=128), nullable=False),
        sa.Column("model_label", sa.String(length=128), nullable=True),
        sa.Column("probability", sa.Float(), nullable=True),
        sa.Column("group_id", sa.String(length=64), nullable=True),
        sa.Column("group_labels", sa.String(length=512), nullable=True),
        sa.Column("imported_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("file"),
    )
    op.create_table(
        "bank_review_decisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("specialist_id", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("label_before", sa.String(length=128), nullable=True),
        sa.Column("label_after", sa.String(length=128), nullable=True),
        sa.Column("decided_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["item_id"], ["bank_review_items.id"]),
        sa.ForeignKeyConstraint(["specialist_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("bank_review_decisions") as batch_op:
        batch_op.create_index(
            batch_op.f("ix_bank_review_decisions_item_id"), ["item_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_bank_review_decisions_decided_at"), ["decided_at"], unique=False
        )


def downgrade() -> None:
    op.drop_table("bank_review_decisions")
    op.drop_table("bank_review_items")

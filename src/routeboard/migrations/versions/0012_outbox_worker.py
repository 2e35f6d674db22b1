"""outbox_worker

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-25 21:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import routeboard.db

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = routeboard.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("next_attempt_at", WHEN, nullable=True))
        batch.add_column(sa.Column("claimed_by", sa.String(length=60), nullable=True))
        batch.add_column(sa.Column("claimed_until", WHEN, nullable=True))
        batch.add_column(sa.Column("sent_at", WHEN, nullable=True))
        batch.add_column(sa.Column("last_error", sa.Text(), nullable=True))
    with op.batch_alter_table("tracking_links") as batch:
        batch.alter_column("created_by_id", existing_type=BIG, nullable=True)
    op.create_table(
        "outbox_attempts",
        sa.Column("id", BIG, autoincrement=True, nullable=False),
        sa.Column("message_id", BIG, nullable=False),
        sa.Column("at", WHEN, nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("transient", sa.Boolean(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("worker", sa.String(length=60), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"], ["outbox.id"], name=op.f("fk_outbox_attempts_message_id_outbox")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_attempts")),
    )
    op.create_index(
        op.f("ix_outbox_attempts_message_id"), "outbox_attempts", ["message_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_outbox_attempts_message_id"), table_name="outbox_attempts")
    op.drop_table("outbox_attempts")
    with op.batch_alter_table("tracking_links") as batch:
        batch.alter_column("created_by_id", existing_type=BIG, nullable=False)
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("last_error")
        batch.drop_column("sent_at")
        batch.drop_column("claimed_until")
        batch.drop_column("claimed_by")
        batch.drop_column("next_attempt_at")

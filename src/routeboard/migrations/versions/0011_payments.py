"""payments

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-25 21:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import routeboard.db

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("payments") as batch:
        batch.add_column(
            sa.Column("provider", sa.String(length=20), server_default="manual", nullable=False)
        )
        batch.add_column(sa.Column("reference", sa.String(length=120), nullable=True))
        batch.add_column(sa.Column("checkout_url", sa.Text(), nullable=True))
        batch.add_column(sa.Column("recorded_by_id", BIG, nullable=True))
        batch.add_column(
            sa.Column("settled_at", routeboard.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch.create_unique_constraint(batch.f("uq_payments_reference"), ["reference"])
        batch.create_foreign_key(
            batch.f("fk_payments_recorded_by_id_users"), "users", ["recorded_by_id"], ["id"]
        )
    op.create_table(
        "payment_events",
        sa.Column("id", BIG, autoincrement=True, nullable=False),
        sa.Column("event_id", sa.String(length=120), nullable=False),
        sa.Column("payment_id", BIG, nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("received_at", routeboard.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name=op.f("fk_payment_events_payment_id_payments")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_events")),
        sa.UniqueConstraint("event_id", name=op.f("uq_payment_events_event_id")),
    )
    op.create_index(
        op.f("ix_payment_events_payment_id"), "payment_events", ["payment_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_payment_events_payment_id"), table_name="payment_events")
    op.drop_table("payment_events")
    with op.batch_alter_table("payments") as batch:
        batch.drop_constraint(batch.f("fk_payments_recorded_by_id_users"), type_="foreignkey")
        batch.drop_constraint(batch.f("uq_payments_reference"), type_="unique")
        batch.drop_column("settled_at")
        batch.drop_column("recorded_by_id")
        batch.drop_column("checkout_url")
        batch.drop_column("reference")
        batch.drop_column("provider")

"""branches

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 18:36:44.980716
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import routeboard.db

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "branches",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("address", sa.String(length=300), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("radius_m", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", routeboard.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_branches")),
        sa.UniqueConstraint("name", name=op.f("uq_branches_name")),
    )
    # Batch mode: SQLite can add a foreign key only by rebuilding the table.
    for table in ("jobs", "technicians"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(
                sa.Column(
                    "branch_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
                )
            )
            batch.create_index(f"ix_{table}_branch_id", ["branch_id"], unique=False)
            batch.create_foreign_key(
                f"fk_{table}_branch_id_branches", "branches", ["branch_id"], ["id"]
            )


def downgrade() -> None:
    for table in ("technicians", "jobs"):
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(f"fk_{table}_branch_id_branches", type_="foreignkey")
            batch.drop_index(f"ix_{table}_branch_id")
            batch.drop_column("branch_id")
    op.drop_table("branches")

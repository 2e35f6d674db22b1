"""feedback

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-26 01:12:49
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import routeboard.db

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = routeboard.db.UTCDateTime(timezone=True)


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}")
    )


def upgrade() -> None:
    op.create_table(
        "feedback",
        sa.Column("id", BIG, nullable=False),
        sa.Column("job_id", BIG, nullable=False),
        sa.Column("technician_id", BIG, nullable=True),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("rating", sa.Integer(), nullable=True),
        sa.Column("on_time", sa.Boolean(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("sentiment", sa.Float(), nullable=True),
        sa.Column("created_at", WHEN, nullable=False),
        _fk("feedback", "job_id", "jobs"),
        _fk("feedback", "technician_id", "technicians"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feedback")),
        sa.UniqueConstraint("job_id", "kind", name=op.f("uq_feedback_job_id")),
    )
    op.create_index(op.f("ix_feedback_job_id"), "feedback", ["job_id"])
    op.create_index(op.f("ix_feedback_technician_id"), "feedback", ["technician_id"])
    op.create_table(
        "message_templates",
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("updated_at", WHEN, nullable=False),
        sa.Column("updated_by_id", BIG, nullable=True),
        _fk("message_templates", "updated_by_id", "users"),
        sa.PrimaryKeyConstraint("kind", name=op.f("pk_message_templates")),
    )
    op.create_table(
        "polls",
        sa.Column("id", BIG, nullable=False),
        sa.Column("question", sa.String(length=200), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("open", sa.Boolean(), nullable=False),
        sa.Column("created_by_id", BIG, nullable=True),
        sa.Column("created_at", WHEN, nullable=False),
        _fk("polls", "created_by_id", "users"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_polls")),
    )
    op.create_table(
        "pulse_answers",
        sa.Column("id", BIG, nullable=False),
        sa.Column("user_id", BIG, nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("question", sa.String(length=40), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        _fk("pulse_answers", "user_id", "users"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pulse_answers")),
        sa.UniqueConstraint("user_id", "day", "question", name=op.f("uq_pulse_answers_user_id")),
    )
    op.create_index(op.f("ix_pulse_answers_day"), "pulse_answers", ["day"])
    op.create_index(op.f("ix_pulse_answers_user_id"), "pulse_answers", ["user_id"])
    op.create_table(
        "poll_votes",
        sa.Column("id", BIG, nullable=False),
        sa.Column("poll_id", BIG, nullable=False),
        sa.Column("user_id", BIG, nullable=False),
        sa.Column("ranking", sa.JSON(), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        _fk("poll_votes", "poll_id", "polls"),
        _fk("poll_votes", "user_id", "users"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_poll_votes")),
        sa.UniqueConstraint("poll_id", "user_id", name=op.f("uq_poll_votes_poll_id")),
    )
    op.create_index(op.f("ix_poll_votes_poll_id"), "poll_votes", ["poll_id"])
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("late_notice_eta", WHEN, nullable=True))
        batch.add_column(sa.Column("arrived_at", WHEN, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("arrived_at")
        batch.drop_column("late_notice_eta")
    op.drop_index(op.f("ix_poll_votes_poll_id"), table_name="poll_votes")
    op.drop_table("poll_votes")
    op.drop_index(op.f("ix_pulse_answers_user_id"), table_name="pulse_answers")
    op.drop_index(op.f("ix_pulse_answers_day"), table_name="pulse_answers")
    op.drop_table("pulse_answers")
    op.drop_table("polls")
    op.drop_table("message_templates")
    op.drop_index(op.f("ix_feedback_technician_id"), table_name="feedback")
    op.drop_index(op.f("ix_feedback_job_id"), table_name="feedback")
    op.drop_table("feedback")

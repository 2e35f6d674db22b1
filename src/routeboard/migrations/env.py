"""Alembic environment. Runs on a connection handed in by ``routeboard.migrate``."""

from __future__ import annotations

from alembic import context

from routeboard import models  # noqa: F401  (registers the tables)
from routeboard.db import Base

config = context.config
connection = config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `routeboard migrate`, which supplies the connection")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()

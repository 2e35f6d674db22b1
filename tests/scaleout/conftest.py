"""Several server processes share one database only on PostgreSQL, so these tests run there
alone (SQLite's half of the suite has nothing to share)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def backend() -> str:
    return "postgresql"

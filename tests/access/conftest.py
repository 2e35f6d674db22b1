"""The matrix runs on SQLite only: it sends ~400 requests each on fresh data, and the access
decisions are made in Python; the row-narrowing queries are also exercised on PostgreSQL by the
jobs, customers and technicians suites."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def backend() -> str:
    return "sqlite"

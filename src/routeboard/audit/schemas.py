"""Audit trail responses."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class AuditEntryRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    seq: int
    action: str
    actor_id: int | None
    actor_name: str
    actor_role: str
    at: datetime
    from_state: str | None
    to_state: str | None
    reason: str | None
    client_addr: str | None
    user_agent: str | None
    lat: float | None
    lon: float | None
    data: dict[str, Any]
    prev_hash: str
    hash: str


class BrokenEntry(BaseModel):
    entry_id: int
    seq: int
    problem: str


class AuditTrail(BaseModel):
    job_id: int
    verified: bool
    broken: BrokenEntry | None
    entries: list[AuditEntryRead]

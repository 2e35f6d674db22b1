"""Message template and outbox bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints


class TemplateRead(BaseModel):
    kind: str
    subject: str
    body: str
    customized: bool
    variables: list[str]
    updated_at: datetime | None = None
    # The text as it would go out for an example job, to check the wording before saving.
    preview: str


class TemplateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subject: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    body: Annotated[str, StringConstraints(min_length=1, max_length=2000)]


class AttemptRead(BaseModel):
    at: datetime
    channel: str
    ok: bool
    transient: bool
    error: str | None
    worker: str


class OutboxRead(BaseModel):
    id: int
    kind: str
    job_id: int | None
    customer_id: int | None
    channel: str
    status: str
    attempts: int
    created_at: datetime
    next_attempt_at: datetime | None
    sent_at: datetime | None
    last_error: str | None
    history: list[AttemptRead]

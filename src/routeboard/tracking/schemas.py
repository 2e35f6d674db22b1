"""Customer tracking link bodies."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from routeboard.jobs.schemas import JobCustomerView


class TrackingLinkCreated(BaseModel):
    url: str
    token: str
    expires_at: datetime


class TrackingLinksRevoked(BaseModel):
    job_id: int
    revoked: int


class TrackView(BaseModel):
    shop_name: str
    job: JobCustomerView

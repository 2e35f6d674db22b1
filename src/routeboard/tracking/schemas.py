"""Customer tracking link bodies."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from routeboard.feedback.schemas import SurveyState
from routeboard.jobs.schemas import JobCustomerView


class TrackingLinkCreated(BaseModel):
    url: str
    token: str
    expires_at: datetime


class TrackingLinksRevoked(BaseModel):
    job_id: int
    revoked: int


class Receipt(BaseModel):
    """After the work: what it cost, who pays what, and what is still due."""

    number: str
    total_cents: int
    customer_share_cents: int
    insurer_share_cents: int
    paid_cents: int
    balance_cents: int
    currency: str
    pdf_url: str


class TrackView(BaseModel):
    shop_name: str
    shop_phone: str | None = None
    timezone: str
    job: JobCustomerView
    receipt: Receipt | None = None
    survey: SurveyState

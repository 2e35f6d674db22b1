"""Payment bodies: what the technician taps, and what the phone shows back."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

Method = Literal["card", "cash", "cheque", "insurance_only"]


class PaymentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    method: Method


class PaymentRead(BaseModel):
    id: int
    job_id: int
    method: str
    amount_cents: int
    status: Literal["pending", "succeeded", "failed"]
    provider: str
    reference: str | None
    # Card: the page the customer pays on, and the same as a QR code for their own phone.
    checkout_url: str | None = None
    qr_svg: str | None = None
    created_at: datetime
    settled_at: datetime | None


class WebhookAnswer(BaseModel):
    received: bool = True
    changed: bool

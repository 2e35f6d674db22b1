"""Invoice responses."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict


class InvoiceLine(BaseModel):
    kind: str
    description: str
    part_number: str | None
    quantity: int
    unit_price_cents: int
    amount_cents: int


class InvoiceRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    job_id: int
    number: str | None
    status: str
    lines: list[InvoiceLine]
    tax_rate_bp: int
    subtotal_cents: int
    tax_cents: int
    total_cents: int
    insurer_share_cents: int
    customer_share_cents: int
    created_at: datetime
    issued_at: datetime | None

"""Quote request and response bodies."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

LineKind = Literal["part", "labor", "calibration", "fee"]


class QuoteLineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: LineKind
    description: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)
    ]
    part_number: Annotated[str, StringConstraints(strip_whitespace=True, max_length=60)] | None = (
        None
    )
    quantity: int = Field(ge=1, le=1000)
    unit_price_cents: int = Field(ge=0, le=10_000_000)


class QuotePut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lines: list[QuoteLineIn] = Field(min_length=1, max_length=100)
    tax_rate: Decimal = Field(default=Decimal(0), ge=0, le=Decimal("0.25"), decimal_places=4)


class QuoteLineRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    kind: str
    description: str
    part_number: str | None
    quantity: int
    unit_price_cents: int
    amount_cents: int


class QuoteRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    job_id: int
    status: str
    lines: list[QuoteLineRead]
    tax_rate_bp: int
    subtotal_cents: int
    tax_cents: int
    total_cents: int
    approved_by_id: int | None
    approved_at: datetime | None
    updated_at: datetime


class QuoteApproval(BaseModel):
    note: str | None = Field(default=None, max_length=2000)

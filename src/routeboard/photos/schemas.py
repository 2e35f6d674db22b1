"""Photo and signature bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

PhotoKind = Literal["before", "after"]


class PhotoRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    job_id: int
    kind: str
    content_type: str
    size_bytes: int
    sha256: str
    uploaded_by_id: int
    created_at: datetime


class SignatureCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    signer_name: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)
    ]
    # A PNG, base64, optionally as a data URL ("data:image/png;base64,...") from a canvas.
    image_base64: str = Field(min_length=16, max_length=4_000_000)


class SignatureRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    job_id: int
    signer_name: str
    sha256: str
    captured_by_id: int
    signed_at: datetime

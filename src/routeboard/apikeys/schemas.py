"""API key bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, StringConstraints, model_validator

KeyScope = Literal["technician", "integration"]


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
    scope: KeyScope
    technician_id: int | None = None

    @model_validator(mode="after")
    def _link(self) -> Self:
        if (self.scope == "technician") != (self.technician_id is not None):
            raise ValueError("technician_id is required for, and only for, technician keys")
        return self


class ApiKeyRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    prefix: str
    scope: str
    technician_id: int | None
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyRead):
    key: str  # shown once; only its hash is stored

"""User bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from routeboard.db import Id

Role = Literal["admin", "dispatcher", "technician", "customer"]
Username = Annotated[
    str, StringConstraints(strip_whitespace=True, to_lower=True, pattern=r"^[A-Za-z0-9_.@-]{3,80}$")
]
Password = Annotated[str, Field(min_length=8, max_length=256)]


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: Username
    password: Password
    role: Role
    technician_id: Id | None = None
    customer_id: Id | None = None

    @model_validator(mode="after")
    def _links(self) -> Self:
        if (self.role == "technician") != (self.technician_id is not None):
            raise ValueError("technician_id is required for, and only for, the technician role")
        if (self.role == "customer") != (self.customer_id is not None):
            raise ValueError("customer_id is required for, and only for, the customer role")
        return self


class UserUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    password: Password | None = None
    active: bool | None = None


class UserRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str
    role: str
    technician_id: int | None
    customer_id: int | None
    active: bool
    created_at: datetime

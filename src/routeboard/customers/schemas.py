"""Customer bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, EmailStr, field_validator, model_validator

from routeboard.technicians.schemas import Name, Phone

Channel = Literal["sms", "email"]


class CustomerCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    phone: Phone | None = None
    email: EmailStr | None = None
    preferred_channel: Channel = "sms"
    sms_consent: bool = False

    @model_validator(mode="after")
    def _reachable(self) -> Self:
        if not self.phone and not self.email:
            raise ValueError("a customer needs a phone number or an email address")
        return self


class CustomerUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    phone: Phone | None = None
    email: EmailStr | None = None
    preferred_channel: Channel | None = None
    sms_consent: bool | None = None
    active: bool | None = None

    @field_validator("name", "preferred_channel", "sms_consent", "active")
    @classmethod
    def _not_null(cls, value: object) -> object:
        # Omitted keeps the value; these columns have no "empty", so null is refused.
        if value is None:
            raise ValueError("may be omitted, but not null")
        return value


class CustomerRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    phone: str | None
    email: str | None
    preferred_channel: str
    sms_consent: bool
    active: bool
    created_at: datetime

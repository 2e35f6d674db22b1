"""Technician bodies."""

from __future__ import annotations

from datetime import datetime, time
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints, model_validator

from routeboard.jobs.schemas import Site

Skill = Literal["windshield_replacement", "chip_repair", "adas_calibration", "side_back_glass"]
Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
Phone = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^\+?[0-9 ().-]{7,20}$")]

DEFAULT_HOURS: dict[Day, tuple[time, time]] = {
    d: (time(8), time(17)) for d in ("mon", "tue", "wed", "thu", "fri")
}


def _check_hours(hours: dict[Day, tuple[time, time]] | None) -> None:
    for day, (start, end) in (hours or {}).items():
        if end <= start:
            raise ValueError(f"working hours on {day} must end after they start")


class TechnicianCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    phone: Phone
    email: EmailStr
    skills: list[Skill] = Field(default_factory=list, max_length=10)
    home_base: Site
    working_hours: dict[Day, tuple[time, time]] = Field(default_factory=lambda: dict(DEFAULT_HOURS))
    branch_id: Annotated[int, Field(ge=1, le=2**63 - 1)] | None = None

    @model_validator(mode="after")
    def _hours(self) -> Self:
        _check_hours(self.working_hours)
        return self


class TechnicianUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    phone: Phone | None = None
    email: EmailStr | None = None
    skills: list[Skill] | None = Field(default=None, max_length=10)
    home_base: Site | None = None
    working_hours: dict[Day, tuple[time, time]] | None = None
    branch_id: Annotated[int, Field(ge=1, le=2**63 - 1)] | None = None
    active: bool | None = None

    @model_validator(mode="after")
    def _hours(self) -> Self:
        _check_hours(self.working_hours)
        return self


class TechnicianRead(BaseModel):
    id: int
    name: str
    phone: str
    email: str
    skills: list[str]
    home_base: Site
    working_hours: dict[str, list[str]]
    branch_id: int | None
    active: bool
    created_at: datetime

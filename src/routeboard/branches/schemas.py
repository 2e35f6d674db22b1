"""Branch bodies: a shop that technicians drive out from."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from routeboard.jobs.schemas import Site
from routeboard.technicians.schemas import Name


class BranchCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    site: Site
    radius_m: int = Field(default=150, ge=25, le=5000, description="The shop's geofence")


class BranchUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    site: Site | None = None
    radius_m: int | None = Field(default=None, ge=25, le=5000)
    active: bool | None = None


class BranchRead(BaseModel):
    id: int
    name: str
    site: Site
    radius_m: int
    active: bool
    created_at: datetime

"""The technician app's own read: their day."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter

from routeboard.access import Authorized
from routeboard.deps import SessionDep, SettingsDep
from routeboard.tech import service
from routeboard.tech.schemas import TechDay

router = APIRouter(prefix="/api/v1/tech", tags=["technician app"])


@router.get("/day", response_model=TechDay)
async def my_day(
    session: SessionDep, settings: SettingsDep, actor: Authorized, date: date | None = None
) -> TechDay:
    """The signed-in technician's jobs of ``date`` (default today, in the shop's zone): each with
    its next step and, in words, what that step still needs."""
    return await service.technician_day(session, actor, date, settings.tz)

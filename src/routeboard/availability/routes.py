"""Technician status: their own taps, and the office's view of everyone's."""

from __future__ import annotations

from fastapi import APIRouter, Request

from routeboard.access import Authorized
from routeboard.availability import service
from routeboard.availability.schemas import StatusUpdate, TechnicianStatusRead
from routeboard.db import Id
from routeboard.deps import SessionDep, SettingsDep

router = APIRouter(prefix="/api/v1", tags=["availability"])


@router.get("/availability", response_model=list[TechnicianStatusRead])
async def availability(
    request: Request, session: SessionDep, actor: Authorized, settings: SettingsDep
) -> list[TechnicianStatusRead]:
    """Each visible technician's latest state: status and since when, position, last heard
    from, whether that is stale, their current job and its ETA."""
    return await service.visible_statuses(
        session, actor, now=actor.at, ttl=settings.availability_ttl,
        cache=request.app.state.state_cache,
    )  # fmt: skip


@router.post("/technicians/{technician_id}/status", response_model=TechnicianStatusRead)
async def report_status(
    technician_id: Id,
    body: StatusUpdate,
    session: SessionDep,
    actor: Authorized,
    settings: SettingsDep,
) -> TechnicianStatusRead:
    await service.report_status(session, technician_id, body.status, actor=actor)
    ttl = settings.availability_ttl
    [read] = await service.statuses(session, [technician_id], now=actor.at, ttl=ttl)
    return read

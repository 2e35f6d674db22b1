"""Technician status: their own taps, and the office's view of everyone's."""

from __future__ import annotations

from fastapi import APIRouter

from routeboard.access import Authorized
from routeboard.availability import service
from routeboard.availability.schemas import StatusUpdate, TechnicianStatusRead
from routeboard.db import Id
from routeboard.deps import SessionDep

router = APIRouter(prefix="/api/v1", tags=["availability"])


@router.get("/availability", response_model=list[TechnicianStatusRead])
async def availability(session: SessionDep, actor: Authorized) -> list[TechnicianStatusRead]:
    """Each visible technician's status, since when, and when they were last heard from."""
    return await service.visible_statuses(session, actor)


@router.post("/technicians/{technician_id}/status", response_model=TechnicianStatusRead)
async def report_status(
    technician_id: Id, body: StatusUpdate, session: SessionDep, actor: Authorized
) -> TechnicianStatusRead:
    await service.report_status(session, technician_id, body.status, actor=actor)
    [read] = await service.statuses(session, [technician_id])
    return read

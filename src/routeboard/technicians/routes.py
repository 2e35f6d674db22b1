"""Technician endpoints."""

from __future__ import annotations

from fastapi import APIRouter, status

from routeboard.access import Authorized, access_technician
from routeboard.db import Id
from routeboard.deps import SessionDep
from routeboard.pagination import Page, PageDep
from routeboard.technicians import service
from routeboard.technicians.schemas import TechnicianCreate, TechnicianRead, TechnicianUpdate

router = APIRouter(prefix="/api/v1/technicians", tags=["technicians"])


@router.post("", response_model=TechnicianRead, status_code=status.HTTP_201_CREATED)
async def create_technician(
    body: TechnicianCreate, session: SessionDep, actor: Authorized
) -> TechnicianRead:
    return service.read_model(await service.create_technician(session, body, actor=actor))


@router.get("", response_model=Page[TechnicianRead])
async def list_technicians(
    session: SessionDep, actor: Authorized, page: PageDep, active: bool | None = None
) -> Page[TechnicianRead]:
    items, total = await service.list_technicians(session, page=page, active=active)
    return Page[TechnicianRead].of([service.read_model(t) for t in items], total, page)


@router.get("/{technician_id}", response_model=TechnicianRead)
async def read_technician(
    technician_id: Id, session: SessionDep, actor: Authorized
) -> TechnicianRead:
    return service.read_model(await access_technician(session, actor, technician_id))


@router.patch("/{technician_id}", response_model=TechnicianRead)
async def update_technician(
    technician_id: Id, body: TechnicianUpdate, session: SessionDep, actor: Authorized
) -> TechnicianRead:
    tech = await service.update_technician(session, technician_id, body, actor=actor)
    return service.read_model(tech)


@router.delete("/{technician_id}", response_model=TechnicianRead)
async def deactivate_technician(
    technician_id: Id, session: SessionDep, actor: Authorized
) -> TechnicianRead:
    tech = await service.deactivate_technician(session, technician_id, actor=actor)
    return service.read_model(tech)

"""Technician records."""

from __future__ import annotations

from datetime import time

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from routeboard.access import access_technician
from routeboard.branches.service import check_branch
from routeboard.deps import Actor
from routeboard.jobs.schemas import Site
from routeboard.models import Technician
from routeboard.pagination import PageParams, paginate
from routeboard.technicians.schemas import Day, TechnicianCreate, TechnicianRead, TechnicianUpdate


def _hours(hours: dict[Day, tuple[time, time]]) -> dict[str, list[str]]:
    return {d: [s.strftime("%H:%M"), e.strftime("%H:%M")] for d, (s, e) in hours.items()}


def read_model(t: Technician) -> TechnicianRead:
    return TechnicianRead(
        id=t.id,
        name=t.name,
        phone=t.phone,
        email=t.email,
        skills=t.skills,
        home_base=Site(address=t.home_address, lat=t.home_lat, lon=t.home_lon),
        working_hours=t.working_hours,
        branch_id=t.branch_id,
        active=t.active,
        created_at=t.created_at,
    )


async def create_technician(
    session: AsyncSession, data: TechnicianCreate, *, actor: Actor
) -> Technician:
    tech = Technician(
        name=data.name,
        phone=data.phone,
        email=str(data.email),
        skills=sorted(set(data.skills)),
        home_address=data.home_base.address,
        home_lat=data.home_base.lat,
        home_lon=data.home_base.lon,
        working_hours=_hours(data.working_hours),
        branch_id=data.branch_id,
        created_at=actor.at,
    )
    await check_branch(session, data.branch_id)
    session.add(tech)
    await session.flush()
    return tech


async def update_technician(
    session: AsyncSession, technician_id: int, data: TechnicianUpdate, *, actor: Actor
) -> Technician:
    tech = await access_technician(session, actor, technician_id)
    for name in ("name", "phone", "active"):
        value = getattr(data, name)
        if value is not None:
            setattr(tech, name, value)
    if data.email is not None:
        tech.email = str(data.email)
    if data.skills is not None:
        tech.skills = sorted(set(data.skills))
    if data.home_base is not None:
        tech.home_address = data.home_base.address
        tech.home_lat, tech.home_lon = data.home_base.lat, data.home_base.lon
    if data.working_hours is not None:
        tech.working_hours = _hours(data.working_hours)
    if "branch_id" in data.model_fields_set:
        await check_branch(session, data.branch_id)
        tech.branch_id = data.branch_id
    await session.flush()
    return tech


async def deactivate_technician(
    session: AsyncSession, technician_id: int, *, actor: Actor
) -> Technician:
    """Technicians are kept for the record; deleting one stops them being scheduled."""
    tech = await access_technician(session, actor, technician_id)
    tech.active = False
    await session.flush()
    return tech


async def list_technicians(
    session: AsyncSession, *, page: PageParams, active: bool | None = None
) -> tuple[list[Technician], int]:
    query = select(Technician).order_by(Technician.name, Technician.id)
    if active is not None:
        query = query.where(Technician.active == active)
    return await paginate(session, query, page)

"""Job endpoints: CRUD, scheduling and lifecycle transitions."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, status

from routeboard.access import access_job
from routeboard.deps import AnyActor, FieldActor, SessionDep, SettingsDep, StaffActor
from routeboard.jobs import service
from routeboard.jobs.schemas import (
    JobCreate,
    JobRead,
    JobUpdate,
    ScheduleRequest,
    TransitionRequest,
)
from routeboard.jobs.states import State
from routeboard.pagination import Page, PageDep

router = APIRouter(prefix="/api/v1/jobs", tags=["jobs"])


@router.post("", response_model=JobRead, status_code=status.HTTP_201_CREATED)
async def create_job(body: JobCreate, session: SessionDep, actor: StaffActor) -> JobRead:
    return JobRead.of(await service.create_job(session, body, actor=actor))


@router.get("", response_model=Page[JobRead])
async def list_jobs(
    session: SessionDep,
    settings: SettingsDep,
    actor: AnyActor,
    page: PageDep,
    day: Annotated[
        date | None, Query(alias="date", description="Business-local day of the scheduled start")
    ] = None,
    state: Annotated[State | None, Query(alias="status")] = None,
    technician_id: int | None = None,
) -> Page[JobRead]:
    jobs, total = await service.list_jobs(
        session,
        actor=actor,
        page=page,
        tz=settings.tz,
        day=day,
        state=state.value if state else None,
        technician_id=technician_id,
    )
    return Page[JobRead](
        items=[JobRead.of(j) for j in jobs], total=total, limit=page.limit, offset=page.offset
    )


@router.get("/{job_id}", response_model=JobRead)
async def read_job(job_id: int, session: SessionDep, actor: AnyActor) -> JobRead:
    return JobRead.of(await access_job(session, actor, job_id))


@router.patch("/{job_id}", response_model=JobRead)
async def update_job(
    job_id: int, body: JobUpdate, session: SessionDep, actor: StaffActor
) -> JobRead:
    return JobRead.of(await service.update_job(session, job_id, body, actor=actor))


@router.delete("/{job_id}", response_model=JobRead)
async def cancel_job(
    job_id: int,
    session: SessionDep,
    actor: StaffActor,
    reason: Annotated[str, Query(min_length=1, max_length=2000)] = "deleted by dispatcher",
) -> JobRead:
    """Jobs are evidence and are never erased: deleting one cancels it."""
    body = TransitionRequest(action="cancel", reason=reason)
    return JobRead.of(await service.transition_job(session, job_id, body, actor=actor))


@router.post("/{job_id}/schedule", response_model=JobRead)
async def schedule_job(
    job_id: int, body: ScheduleRequest, session: SessionDep, actor: StaffActor
) -> JobRead:
    return JobRead.of(await service.schedule_job(session, job_id, body, actor=actor))


@router.post("/{job_id}/transitions", response_model=JobRead)
async def transition_job(
    job_id: int, body: TransitionRequest, session: SessionDep, actor: FieldActor
) -> JobRead:
    return JobRead.of(await service.transition_job(session, job_id, body, actor=actor))

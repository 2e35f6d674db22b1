"""Job endpoints: CRUD, scheduling and lifecycle transitions."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, Response, status
from pydantic import AfterValidator

from routeboard.access import Authorized, access_job
from routeboard.db import Id
from routeboard.deps import PlannerDep, SessionDep, SettingsDep
from routeboard.idempotency import (
    IdempotencyKey,
    OccurredAt,
    as_of,
    fingerprint,
    once,
)
from routeboard.jobs import service
from routeboard.jobs.schemas import (
    JobCreate,
    JobCustomerView,
    JobRead,
    JobUpdate,
    ScheduleRequest,
    TransitionRequest,
    in_years,
)
from routeboard.jobs.states import State
from routeboard.pagination import Page, PageDep

router = APIRouter(prefix="/api/v1/jobs", tags=["jobs"])


@router.post("", response_model=JobRead, status_code=status.HTTP_201_CREATED)
async def create_job(body: JobCreate, session: SessionDep, actor: Authorized) -> JobRead:
    return await service.field_view(
        session, actor, await service.create_job(session, body, actor=actor)
    )


@router.get("", response_model=Page[JobRead] | Page[JobCustomerView])
async def list_jobs(
    session: SessionDep,
    settings: SettingsDep,
    actor: Authorized,
    page: PageDep,
    day: Annotated[
        date | None,
        Query(alias="date", description="Business-local day of the scheduled start"),
        AfterValidator(in_years),
    ] = None,
    state: Annotated[State | None, Query(alias="status")] = None,
    technician_id: Id | None = None,
) -> Page[JobRead] | Page[JobCustomerView]:
    jobs, total = await service.list_jobs(
        session,
        actor=actor,
        page=page,
        tz=settings.tz,
        day=day,
        state=state.value if state else None,
        technician_id=technician_id,
    )
    items = await service.view_jobs(session, actor, jobs)
    if actor.role == "customer":
        views = [v for v in items if isinstance(v, JobCustomerView)]
        return Page[JobCustomerView].of(views, total, page)
    reads = [v for v in items if isinstance(v, JobRead)]
    return Page[JobRead].of(reads, total, page)


@router.get("/{job_id}", response_model=JobRead | JobCustomerView)
async def read_job(job_id: Id, session: SessionDep, actor: Authorized) -> JobRead | JobCustomerView:
    return await service.view_job(session, actor, await access_job(session, actor, job_id))


@router.patch("/{job_id}", response_model=JobRead)
async def update_job(
    job_id: Id, body: JobUpdate, session: SessionDep, planner: PlannerDep, actor: Authorized
) -> JobRead:
    job = await service.update_job(session, job_id, body, actor=actor, planner=planner)
    return await service.field_view(session, actor, job)


@router.delete("/{job_id}", response_model=JobRead)
async def cancel_job(
    job_id: Id,
    session: SessionDep,
    actor: Authorized,
    reason: Annotated[str, Query(min_length=1, max_length=2000)] = "deleted by dispatcher",
) -> JobRead:
    """Jobs are evidence and are never erased: deleting one cancels it."""
    body = TransitionRequest(action="cancel", reason=reason)
    job = await service.transition_job(session, job_id, body, actor=actor)
    return await service.field_view(session, actor, job)


@router.post("/{job_id}/schedule", response_model=JobRead)
async def schedule_job(
    job_id: Id, body: ScheduleRequest, session: SessionDep, planner: PlannerDep, actor: Authorized
) -> JobRead:
    job = await service.schedule_job(session, job_id, body, actor=actor, planner=planner)
    return await service.field_view(session, actor, job)


@router.post("/{job_id}/transitions", response_model=JobRead)
async def transition_job(
    job_id: Id,
    body: TransitionRequest,
    session: SessionDep,
    planner: PlannerDep,
    actor: Authorized,
    key: IdempotencyKey = None,
    occurred_at: OccurredAt = None,
) -> JobRead | Response:
    """Take ``action``. With ``Idempotency-Key`` a repeat is answered, not applied again; with
    ``X-Occurred-At`` the action is recorded at the time it happened (an offline queue)."""

    async def apply() -> JobRead:
        job = await service.transition_job(
            session, job_id, body, actor=as_of(actor, occurred_at), planner=planner
        )
        return await service.field_view(session, actor, job)

    print_ = fingerprint("transition", str(job_id), body.model_dump_json())
    return await once(session, actor, key, print_, apply)

"""Scheduling endpoints: dry-run checks, recommendations, bookable slots, the day, optimisation."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from routeboard.access import Authorized, access_job
from routeboard.db import Id
from routeboard.deps import PlannerDep, SessionDep
from routeboard.jobs import service as jobs_service
from routeboard.schedule import service
from routeboard.schedule.schemas import (
    ApplyRequest,
    CheckRequest,
    CheckResult,
    Day,
    DaySchedule,
    Move,
    OptimizeRequest,
    OptimizeResult,
    RecommendRequest,
    RecommendResult,
    Slot,
    SlotQuery,
)

router = APIRouter(prefix="/api/v1/schedule", tags=["schedule"])


@router.get("", response_model=DaySchedule)
async def day_schedule(
    session: SessionDep,
    planner: PlannerDep,
    actor: Authorized,
    day: Annotated[Day, Query(alias="date", description="Business-local day")],
    technician_id: Id | None = None,
) -> DaySchedule:
    """Each technician's day in order: drive gaps, projected arrivals, lateness, conflicts."""
    return await service.day_schedule(
        session, day, actor=actor, planner=planner, technician_id=technician_id
    )


@router.post("/check", response_model=CheckResult)
async def check(
    body: CheckRequest, session: SessionDep, planner: PlannerDep, actor: Authorized
) -> CheckResult:
    """Would this placement be accepted? The same rules as scheduling, writing nothing."""
    job = await access_job(session, actor, body.job_id)
    return await service.check(session, job, body, planner=planner)


@router.post("/recommend", response_model=RecommendResult)
async def recommend(
    body: RecommendRequest, session: SessionDep, planner: PlannerDep, actor: Authorized
) -> RecommendResult:
    job = await access_job(session, actor, body.job_id)
    return await service.recommend_for_job(session, job, body, actor=actor, planner=planner)


@router.get("/slots", response_model=list[Slot])
async def slots(
    query: Annotated[SlotQuery, Query()],
    session: SessionDep,
    planner: PlannerDep,
    actor: Authorized,
) -> list[Slot]:
    """Arrival windows a technician can really reach, for offering to customers."""
    return await service.open_slots(session, query, actor=actor, planner=planner)


@router.post("/optimize", response_model=OptimizeResult)
async def propose(
    body: OptimizeRequest, session: SessionDep, planner: PlannerDep, actor: Authorized
) -> OptimizeResult:
    """A proposed order and times for the unpinned jobs; nothing changes until applied."""
    return await service.propose_optimization(session, body, planner=planner)


@router.post("/optimize/apply", response_model=list[Move])
async def apply(
    body: ApplyRequest, session: SessionDep, planner: PlannerDep, actor: Authorized
) -> list[Move]:
    """Apply moves, each re-checked and audited; any that no longer fits refuses the whole set."""
    return await jobs_service.apply_moves(session, body.moves, actor=actor, planner=planner)

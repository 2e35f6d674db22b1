"""Job changes: creation, edits, scheduling and lifecycle transitions.

Each public function is one verb: it checks the rules, writes the row, the audit entry and the
event in the caller's transaction. The state rules themselves live in ``states.py``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from routeboard.access import access_customer, load_job_for_action, visible_jobs
from routeboard.audit.service import append_audit
from routeboard.availability.cache import ACTIVE_JOB_STATES, touch
from routeboard.availability.service import STATUS_OF_ACTION, set_status
from routeboard.branches.service import check_branch
from routeboard.deps import Actor
from routeboard.errors import Conflict, Forbidden, InvalidInput
from routeboard.events.schemas import JobCreated, JobScheduled, JobTransitioned, JobUpdated
from routeboard.events.service import record_event
from routeboard.invoices.service import draft_invoice, issue_invoice
from routeboard.jobs.schemas import (
    JobCreate,
    JobCustomerView,
    JobRead,
    JobUpdate,
    ScheduleRequest,
    TransitionRequest,
)
from routeboard.jobs.states import (
    ACTIVE_ON_DAY,
    Action,
    GuardContext,
    Refused,
    RoleRefused,
    State,
    decide,
)
from routeboard.models import (
    Customer,
    Job,
    Photo,
    Quote,
    Signature,
    Technician,
    TechnicianStatus,
    Vehicle,
)
from routeboard.notify.service import queue_message
from routeboard.pagination import PageParams, paginate
from routeboard.schedule.feasibility import Conflict as Clash
from routeboard.schedule.schemas import Move
from routeboard.schedule.service import Planner, day_conflicts, local_day, placement_conflicts
from routeboard.travel.estimate import Point

JobView = JobRead | JobCustomerView


async def view_jobs(session: AsyncSession, actor: Actor, jobs: list[Job]) -> list[JobView]:
    """Each job shaped for ``actor``: the customer view for customers; for technicians the
    customer's contact details only while the job is active."""
    if actor.role == "customer":
        tech_ids = {j.technician_id for j in jobs if j.technician_id}
        techs = {
            t.id: t
            for t in (
                await session.execute(select(Technician).where(Technician.id.in_(tech_ids)))
            ).scalars()
        }
        return [
            JobCustomerView.of(j, techs.get(j.technician_id) if j.technician_id else None)
            for j in jobs
        ]
    wanted = {j.customer_id for j in jobs if actor.is_staff or j.state in ACTIVE_ON_DAY}
    customers = {
        c.id: c
        for c in (await session.execute(select(Customer).where(Customer.id.in_(wanted)))).scalars()
    }
    return [JobRead.of(j, customers.get(j.customer_id)) for j in jobs]


async def view_job(session: AsyncSession, actor: Actor, job: Job) -> JobView:
    return (await view_jobs(session, actor, [job]))[0]


async def field_view(session: AsyncSession, actor: Actor, job: Job) -> JobRead:
    """The view for routes only the office and technicians reach."""
    view = await view_job(session, actor, job)
    assert isinstance(view, JobRead)
    return view


def _refusal(exc: Refused | RoleRefused) -> Conflict | Forbidden:
    if isinstance(exc, RoleRefused):
        return Forbidden(str(exc), code="role_not_allowed", details={"action": exc.action.value})
    return Conflict(exc.message, code=exc.guard, details={"guard": exc.guard})


def newest_model_year(now: datetime) -> int:
    """Makers sell next year's models from the spring before; two ahead covers any launch."""
    return now.year + 2


async def _vehicle_for(
    session: AsyncSession, customer_id: int, data: JobCreate | JobUpdate, *, now: datetime
) -> Vehicle:
    assert data.vehicle is not None
    v = data.vehicle
    newest = newest_model_year(now)
    if v.year > newest:
        raise InvalidInput(
            f"vehicle.year: model year {v.year} is after {newest}, the newest sold today",
            details=[
                {"loc": ["body", "vehicle", "year"], "msg": f"must be at most {newest}",
                 "type": "less_than_equal"}
            ],
        )  # fmt: skip
    found = (
        await session.execute(
            select(Vehicle).where(Vehicle.customer_id == customer_id, Vehicle.vin == v.vin)
        )
    ).scalar_one_or_none()
    if found is None:
        found = Vehicle(customer_id=customer_id, year=v.year, make=v.make, model=v.model, vin=v.vin)
        session.add(found)
        await session.flush()
    else:
        found.year, found.make, found.model = v.year, v.make, v.model
    return found


async def create_job(session: AsyncSession, data: JobCreate, *, actor: Actor) -> Job:
    """A new job, in ``quoted``, for an existing active customer."""
    customer = await access_customer(session, actor, data.customer_id)
    if not customer.active:
        raise InvalidInput(f"customer {customer.id} is deactivated", code="customer_inactive")
    await check_branch(session, data.branch_id)
    vehicle = await _vehicle_for(session, customer.id, data, now=actor.at)
    job = Job(
        branch_id=data.branch_id,
        state=State.QUOTED.value,
        customer_id=customer.id,
        vehicle_id=vehicle.id,
        service_type=data.service_type,
        site_address=data.site.address,
        site_lat=data.site.lat,
        site_lon=data.site.lon,
        duration_minutes=data.duration_minutes,
        window_start=data.window.start if data.window else None,
        window_end=data.window.end if data.window else None,
        insurance_carrier=data.insurance.carrier if data.insurance else None,
        claim_number=data.insurance.claim_number if data.insurance else None,
        policy_number=data.insurance.policy_number if data.insurance else None,
        deductible_cents=data.insurance.deductible_cents if data.insurance else None,
        notes=data.notes,
        created_at=actor.at,
        updated_at=actor.at,
    )
    session.add(job)
    await session.flush()
    await session.refresh(job, ["vehicle"])
    await append_audit(session, job, actor=actor, action="job.created", to_state=job.state)
    await record_event(session, JobCreated(job_id=job.id, state=job.state), at=actor.at, job=job)
    return job


async def update_job(
    session: AsyncSession, job_id: int, data: JobUpdate, *, actor: Actor, planner: Planner
) -> Job:
    """Edit a job's details; closed jobs are evidence and cannot be edited."""
    job = await load_job_for_action(session, actor, job_id)
    if job.state in (State.COMPLETED, State.INVOICED, State.CANCELLED):
        raise Conflict(f"a {job.state} job cannot be edited", code="job_closed")
    changed = sorted(data.model_fields_set)
    if data.service_type is not None:
        job.service_type = data.service_type
    if data.site is not None:
        job.site_address, job.site_lat, job.site_lon = (
            data.site.address,
            data.site.lat,
            data.site.lon,
        )
    if "window" in data.model_fields_set:
        job.window_start = data.window.start if data.window else None
        job.window_end = data.window.end if data.window else None
    if "insurance" in data.model_fields_set:
        ins = data.insurance
        job.insurance_carrier = ins.carrier if ins else None
        job.claim_number = ins.claim_number if ins else None
        job.policy_number = ins.policy_number if ins else None
        job.deductible_cents = ins.deductible_cents if ins else None
    if data.notes is not None:
        job.notes = data.notes
    if data.vehicle is not None:
        job.vehicle_id = (await _vehicle_for(session, job.customer_id, data, now=actor.at)).id
    if data.pinned is not None:
        job.pinned = data.pinned
    if "branch_id" in data.model_fields_set:
        await check_branch(session, data.branch_id)
        job.branch_id = data.branch_id
    if data.duration_minutes is not None:
        job.duration_minutes = data.duration_minutes
        if job.scheduled_start is not None and job.technician_id is not None:
            # A longer job can run into the next one or past the day: re-check, report, refuse.
            tech = await session.get(Technician, job.technician_id)
            assert tech is not None
            stop, conflicts = await placement_conflicts(
                session, job, tech, job.scheduled_start, planner=planner
            )
            worse = [c for c in conflicts if c.kind != "outside_window"]
            if worse:
                clash = any(c.kind == "overlap" for c in worse)
                guard = "schedule_overlap" if clash else "schedule_infeasible"
                refusal = _refusal(
                    Refused(guard, f"a {data.duration_minutes}-minute job no longer fits")
                )
                refusal.details = conflict_details(guard, conflicts)
                raise refusal
            job.scheduled_end = stop.end
    job.updated_at = actor.at
    if data.vehicle is not None:
        await session.flush()
        await session.refresh(job, ["vehicle"])
    # The audit entry's flush writes the job's changes too: one UPDATE, not two.
    await append_audit(session, job, actor=actor, action="job.updated", data={"fields": changed})
    await record_event(
        session,
        JobUpdated(job_id=job.id, technician_id=job.technician_id, fields=changed),
        at=actor.at,
        job=job,
    )
    return job


def day_bounds(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The UTC instants that open and close ``day`` in the business time zone (DST-aware)."""
    start = datetime.combine(day, time(0), tzinfo=tz)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz)
    return start, end


async def list_jobs(
    session: AsyncSession,
    *,
    actor: Actor,
    page: PageParams,
    tz: ZoneInfo,
    day: date | None = None,
    state: str | None = None,
    technician_id: int | None = None,
) -> tuple[list[Job], int]:
    query = visible_jobs(actor, select(Job))
    if day is not None:
        start, end = day_bounds(day, tz)
        query = query.where(Job.scheduled_start >= start, Job.scheduled_start < end)
    if state is not None:
        query = query.where(Job.state == state)
    if technician_id is not None:
        query = query.where(Job.technician_id == technician_id)
    query = query.order_by(Job.scheduled_start.is_(None), Job.scheduled_start, Job.id)
    return await paginate(session, query, page)


async def guard_context(
    session: AsyncSession, job: Job, actor: Actor, *, reason: str | None = None
) -> GuardContext:
    [ctx] = (await guard_contexts(session, [job], actor, reason=reason)).values()
    return ctx


async def guard_contexts(
    session: AsyncSession, jobs: list[Job], actor: Actor, *, reason: str | None = None
) -> dict[int, GuardContext]:
    """What the lifecycle rules need to judge each job: three queries however many jobs."""
    ids = [job.id for job in jobs]
    rows = await session.execute(select(Quote.job_id, Quote.status).where(Quote.job_id.in_(ids)))
    quotes = {job_id: status for job_id, status in rows}
    photos: dict[tuple[int, str], int] = {}
    counted = await session.execute(
        select(Photo.job_id, Photo.kind, func.count())
        .where(Photo.job_id.in_(ids))
        .group_by(Photo.job_id, Photo.kind)
    )
    for job_id, kind, n in counted:
        photos[(job_id, kind)] = n
    signed = set(
        (await session.execute(select(Signature.job_id).where(Signature.job_id.in_(ids)))).scalars()
    )
    return {
        job.id: GuardContext(
            actor_role=actor.role,
            actor_technician_id=actor.technician_id,
            assigned_technician_id=job.technician_id,
            quote_status=quotes.get(job.id),
            before_photos=photos.get((job.id, "before"), 0),
            after_photos=photos.get((job.id, "after"), 0),
            has_signature=job.id in signed,
            reason=reason,
        )
        for job in jobs
    }


def conflict_details(guard: str, conflicts: list[Clash]) -> dict[str, object]:
    return {"guard": guard, "conflicts": [asdict(c) for c in conflicts]}


async def schedule_job(
    session: AsyncSession,
    job_id: int,
    data: ScheduleRequest,
    *,
    actor: Actor,
    planner: Planner,
) -> Job:
    """Put a quoted job on a technician's day, or move a scheduled one (reschedule).

    The placement must be physically possible (travel, hours, window, skills); a dispatcher may
    force an impossible one with ``override_reason``, and the override and its conflicts are
    audited.
    """
    job = await load_job_for_action(session, actor, job_id)
    action = Action.RESCHEDULE if job.state == State.SCHEDULED else Action.SCHEDULE
    technician = None
    if data.technician_id is not None:
        # Locking the technician serialises concurrent bookings of one person's day.
        technician = (
            await session.execute(
                select(Technician).where(Technician.id == data.technician_id).with_for_update()
            )
        ).scalar_one_or_none()
    start = data.start
    end = start + timedelta(minutes=job.duration_minutes)
    ok = technician is not None and technician.active
    conflicts: list[Clash] = []
    if technician is not None and ok:
        _, conflicts = await placement_conflicts(session, job, technician, start, planner=planner)
    # Overlaps are refused by their own rule (schedule_overlap); the rest as schedule_infeasible.
    overlaps = tuple(c.other_job_id for c in conflicts if c.kind == "overlap" and c.other_job_id)
    others = tuple(c.kind for c in conflicts if c.kind != "overlap")
    override = (data.override_reason or "").strip() or None
    forced = bool(override and conflicts)
    ctx = await guard_context(session, job, actor)
    ctx = GuardContext(
        **{
            **ctx.__dict__,
            "target_technician_ok": ok,
            "overlapping_job_ids": () if override else overlaps,
            "infeasible": () if override else others,
        }
    )
    try:
        target = decide(State(job.state), action, ctx)
    except Refused as exc:
        refusal = _refusal(exc)
        if exc.guard in ("schedule_overlap", "schedule_infeasible"):
            refusal.details = conflict_details(exc.guard, conflicts)
        raise refusal from exc
    except RoleRefused as exc:
        raise _refusal(exc) from exc
    assert technician is not None
    previous = job.technician_id
    from_state = job.state
    job.state = target.value
    job.technician_id = technician.id
    if technician.branch_id is not None:
        job.branch_id = technician.branch_id  # the technician's shop serves it
    job.scheduled_start, job.scheduled_end = start, end
    job.late_notice_eta = None  # a new time: what they were told about the old one is void
    job.override_reason = override if forced else None
    job.updated_at = actor.at
    await session.flush()
    await append_audit(
        session,
        job,
        actor=actor,
        action=f"job.{action.value}",
        from_state=from_state,
        to_state=job.state,
        reason=override if forced else None,
        data={
            "technician_id": technician.id,
            "previous_technician_id": previous,
            "start": start.isoformat(),
            "end": end.isoformat(),
            **({"override": True, "conflicts": [asdict(c) for c in conflicts]} if forced else {}),
        },
    )
    await record_event(
        session,
        JobScheduled(
            job_id=job.id,
            technician_id=technician.id,
            start=start.isoformat(),
            end=end.isoformat(),
            previous_technician_id=previous,
        ),
        at=actor.at,
        job=job,
    )
    if action is Action.SCHEDULE:
        await record_event(
            session,
            JobTransitioned(
                job_id=job.id,
                technician_id=technician.id,
                action=action.value,
                from_state=from_state,
                to_state=job.state,
            ),
            at=actor.at,
            job=job,
        )
    kind = "booking_confirmation" if action is Action.SCHEDULE else "reschedule_notice"
    await queue_message(
        session,
        kind=kind,
        job=job,
        payload={
            "start": start.isoformat(),
            "end": end.isoformat(),
            "technician_first_name": technician.name.split()[0],
        },
        at=actor.at,
    )
    return job


Effect = Callable[[AsyncSession, Job, Actor, State], Awaitable[None]]


async def _unschedule(session: AsyncSession, job: Job, actor: Actor, before: State) -> None:
    job.technician_id = None
    job.scheduled_start = job.scheduled_end = None
    job.late_notice_eta = None


async def _first_eta(
    session: AsyncSession, job: Job, data: TransitionRequest, *, at: datetime, planner: Planner
) -> None:
    """An arrival estimate the moment the technician sets off, so "on my way" can say when:
    from where the phone was when tapped, else the last position heard from it. Live
    positions refine it after (``availability.service.update_eta``)."""
    origin: Point | None = None
    if data.lat is not None and data.lon is not None:
        origin = Point(data.lat, data.lon)
    elif job.technician_id is not None:
        status = await session.get(TechnicianStatus, job.technician_id)
        fresh = status and status.position_at and at - status.position_at < timedelta(hours=1)
        if status and fresh and status.lat is not None and status.lon is not None:
            origin = Point(status.lat, status.lon)
    if origin is None:
        job.eta = None
        return
    # The configured travel times (OSRM, Google, else the offline estimate), as live ETAs use.
    [[leg]] = await planner.travel.matrix([origin], [Point(job.site_lat, job.site_lon)], at)
    job.eta, job.eta_at = at + timedelta(minutes=leg.minutes), None


async def _start_travel(session: AsyncSession, job: Job, actor: Actor, before: State) -> None:
    job.en_route_at = actor.at
    tech = await session.get(Technician, job.technician_id) if job.technician_id else None
    await queue_message(
        session,
        kind="on_my_way",
        job=job,
        payload={
            "technician_first_name": tech.name.split()[0] if tech else None,
            "scheduled_start": job.scheduled_start.isoformat() if job.scheduled_start else None,
            "eta": job.eta.isoformat() if job.eta else None,
        },
        at=actor.at,
    )


async def _start_work(session: AsyncSession, job: Job, actor: Actor, before: State) -> None:
    job.labor_started_at = actor.at
    # Without a geofence arrival (no GPS), starting work is the best record of arriving.
    job.arrived_at = job.arrived_at or actor.at


async def _complete(session: AsyncSession, job: Job, actor: Actor, before: State) -> None:
    job.labor_ended_at = actor.at
    await draft_invoice(session, job, at=actor.at)
    await queue_message(session, kind="job_completed", job=job, payload={}, at=actor.at)
    # The worker holds it back by the configured delay (see ``Worker.deliver``).
    await queue_message(session, kind="feedback_request", job=job, payload={}, at=actor.at)


async def _invoice(session: AsyncSession, job: Job, actor: Actor, before: State) -> None:
    await issue_invoice(session, job, at=actor.at)


async def _cancel(session: AsyncSession, job: Job, actor: Actor, before: State) -> None:
    if before in ACTIVE_ON_DAY:
        await queue_message(session, kind="cancellation_notice", job=job, payload={}, at=actor.at)


EFFECTS: dict[Action, Effect] = {
    Action.UNSCHEDULE: _unschedule,
    Action.START_TRAVEL: _start_travel,
    Action.START_WORK: _start_work,
    Action.COMPLETE: _complete,
    Action.INVOICE: _invoice,
    Action.CANCEL: _cancel,
}


async def transition_job(
    session: AsyncSession,
    job_id: int,
    data: TransitionRequest,
    *,
    actor: Actor,
    planner: Planner | None = None,
) -> Job:
    """Move a job through its lifecycle by ``data.action``, or refuse naming the rule. With
    ``planner``, setting off estimates the first ETA for the customer."""
    job = await load_job_for_action(session, actor, job_id)
    action = Action(data.action)
    ctx = await guard_context(session, job, actor, reason=data.reason)
    before = State(job.state)
    try:
        target = decide(before, action, ctx)
    except (Refused, RoleRefused) as exc:
        raise _refusal(exc) from exc
    technician_id = job.technician_id
    job.state = target.value
    if action is Action.CANCEL:
        job.cancel_reason = (data.reason or "").strip()
    if action is Action.START_TRAVEL and planner is not None:
        await _first_eta(session, job, data, at=actor.at, planner=planner)
    await EFFECTS[action](session, job, actor, before)
    if technician_id is not None and action.value in STATUS_OF_ACTION:
        await set_status(session, technician_id, STATUS_OF_ACTION[action.value], at=actor.at)
    elif technician_id is not None and before.value in ACTIVE_JOB_STATES:
        await touch(session, technician_id)  # their current job ended without a status tap
    job.updated_at = actor.at
    await session.flush()
    await append_audit(
        session,
        job,
        actor=actor,
        action=f"job.{action.value}",
        from_state=before.value,
        to_state=job.state,
        reason=data.reason,
        lat=data.lat,
        lon=data.lon,
    )
    await record_event(
        session,
        JobTransitioned(
            job_id=job.id,
            technician_id=technician_id,
            action=action.value,
            from_state=before.value,
            to_state=job.state,
            delayed_seconds=round((actor.received_at - actor.at).total_seconds())
            if actor.received_at
            else None,
        ),
        at=actor.received_at or actor.at,
        job=job,
    )
    return job


async def apply_moves(
    session: AsyncSession, moves: list[Move], *, actor: Actor, planner: Planner
) -> list[Move]:
    """Move scheduled, unpinned jobs to new times on the same technician's day, all or nothing.

    The resulting days are re-checked from scratch; a move that would create a conflict refuses
    the whole set. Each move is audited as a reschedule and the customer is told.
    """
    touched: dict[tuple[int, date], Technician] = {}
    moved: list[tuple[Job, datetime, datetime]] = []
    for move in moves:
        job = await load_job_for_action(session, actor, move.job_id)
        if job.state != State.SCHEDULED or job.pinned:
            raise Conflict(
                f"job {job.id} is {'pinned' if job.pinned else job.state} and keeps its time",
                code="job_pinned",
            )
        if job.technician_id != move.technician_id:
            raise Conflict(f"job {job.id} belongs to another technician", code="wrong_technician")
        assert job.scheduled_start is not None
        assert job.scheduled_end is not None
        moved.append((job, job.scheduled_start, job.scheduled_end))
        job.scheduled_start = move.start
        job.late_notice_eta = None
        job.scheduled_end = move.start + timedelta(minutes=job.duration_minutes)
        job.updated_at = actor.at
        tech = await session.get(Technician, move.technician_id)
        assert tech is not None
        touched[tech.id, local_day(move.start, planner.tz)] = tech
    await session.flush()
    ids = {job.id for job, _, _ in moved}
    for (_, day), tech in touched.items():
        found = [
            c
            for c in await day_conflicts(session, tech, day, planner=planner)
            if c.job_id in ids or c.other_job_id in ids
        ]
        if found:
            refusal = _refusal(Refused("schedule_infeasible", "the moves no longer fit the day"))
            refusal.details = conflict_details("schedule_infeasible", found)
            raise refusal
    for job, old_start, old_end in moved:
        assert job.scheduled_start is not None
        assert job.scheduled_end is not None
        await append_audit(
            session,
            job,
            actor=actor,
            action="job.reschedule",
            from_state=job.state,
            to_state=job.state,
            data={
                "technician_id": job.technician_id,
                "start": job.scheduled_start.isoformat(),
                "end": job.scheduled_end.isoformat(),
                "previous_start": old_start.isoformat(),
                "previous_end": old_end.isoformat(),
                "optimized": True,
            },
        )
        await record_event(
            session,
            JobScheduled(
                job_id=job.id,
                technician_id=job.technician_id,
                start=job.scheduled_start.isoformat(),
                end=job.scheduled_end.isoformat(),
                previous_technician_id=job.technician_id,
            ),
            at=actor.at,
            job=job,
        )
        await queue_message(
            session,
            kind="reschedule_notice",
            job=job,
            payload={
                "start": job.scheduled_start.isoformat(),
                "end": job.scheduled_end.isoformat(),
            },
            at=actor.at,
        )
    return moves

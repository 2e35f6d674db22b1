"""Who may see which row. Every per-row access decision lives here, nowhere else."""

from __future__ import annotations

from sqlalchemy import Select, false, select
from sqlalchemy.ext.asyncio import AsyncSession

from routeboard.deps import Actor
from routeboard.errors import NotFound
from routeboard.models import Customer, Job, Technician


def _missing(kind: str, ident: int) -> NotFound:
    # The same answer for "does not exist" and "not yours", so ids cannot be probed.
    return NotFound(f"{kind} {ident} not found", code=f"{kind}_not_found")


def visible_jobs(actor: Actor, query: Select[Job]) -> Select[Job]:
    """Narrow a job query to what ``actor`` may see."""
    if actor.is_staff:
        return query
    if actor.role == "technician":
        return query.where(Job.technician_id == actor.technician_id)
    if actor.role == "customer":
        return query.where(Job.customer_id == actor.customer_id)
    return query.where(false())


async def access_job(
    session: AsyncSession, actor: Actor, job_id: int, *, for_update: bool = False
) -> Job:
    """The job if ``actor`` may see it; staff see all, others only their own."""
    query = visible_jobs(actor, select(Job).where(Job.id == job_id))
    if for_update:
        query = query.with_for_update()
    job = (await session.execute(query)).scalars().first()
    if job is None:
        raise _missing("job", job_id)
    return job


async def load_job_for_action(session: AsyncSession, actor: Actor, job_id: int) -> Job:
    """The job, locked, for a lifecycle action by anyone working jobs.

    Technicians are not narrowed here: the state machine's ``not_assigned_technician`` guard
    answers them, so a refusal names the rule. Customers never act on jobs.
    """
    if actor.role == "customer":
        raise _missing("job", job_id)
    query = select(Job).where(Job.id == job_id).with_for_update()
    job = (await session.execute(query)).scalars().first()
    if job is None:
        raise _missing("job", job_id)
    return job


async def access_technician(session: AsyncSession, actor: Actor, technician_id: int) -> Technician:
    tech = await session.get(Technician, technician_id)
    if tech is None or not (actor.is_staff or actor.technician_id == technician_id):
        raise _missing("technician", technician_id)
    return tech


async def access_customer(session: AsyncSession, actor: Actor, customer_id: int) -> Customer:
    customer = await session.get(Customer, customer_id)
    if customer is None or not (actor.is_staff or actor.customer_id == customer_id):
        raise _missing("customer", customer_id)
    return customer

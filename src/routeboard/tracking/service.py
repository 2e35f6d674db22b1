"""Signed, expiring, revocable links that let a customer follow one job without a password."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from routeboard.access import access_job
from routeboard.auth.tokens import issue_link_token, read_link_token
from routeboard.config import Settings
from routeboard.deps import Actor
from routeboard.errors import Conflict, NotAuthenticated
from routeboard.feedback.service import survey_state
from routeboard.invoices.service import invoice_of, settlement
from routeboard.jobs.schemas import JobCustomerView
from routeboard.metrics.service import auth_event
from routeboard.models import Job, Technician, TrackingLink
from routeboard.tracking.schemas import Receipt, TrackView


async def create_link(
    session: AsyncSession, job_id: int, *, key: str, settings: Settings, actor: Actor
) -> tuple[TrackingLink, str]:
    """A new link for the job's customer; earlier links stay valid until revoked or expired."""
    job = await access_job(session, actor, job_id)
    if job.state == "cancelled":
        raise Conflict("a cancelled job has nothing to track", code="job_closed")
    assert actor.user_id is not None
    link = TrackingLink(
        job_id=job.id,
        created_by_id=actor.user_id,
        created_at=actor.at,
        expires_at=actor.at + timedelta(hours=settings.tracking_link_hours),
    )
    session.add(link)
    await session.flush()
    token = issue_link_token(key, job_id=job.id, link_id=link.id, expires=link.expires_at)
    return link, token


async def revoke_links(session: AsyncSession, job_id: int, *, actor: Actor) -> int:
    """Revoke every live link of the job; open tracking streams are cut on their next check."""
    job = await access_job(session, actor, job_id)
    result = await session.execute(
        update(TrackingLink)
        .where(TrackingLink.job_id == job.id, TrackingLink.revoked_at.is_(None))
        .values(revoked_at=actor.at)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def job_for_link(session: AsyncSession, token: str, *, key: str, now: datetime) -> Job:
    """The job a genuine, live, unrevoked link opens; 401 for anything else."""
    ids = read_link_token(key, token, now=now)
    link = await session.get(TrackingLink, ids[1]) if ids else None
    if ids is None or link is None or link.job_id != ids[0] or link.revoked_at is not None:
        auth_event("tracking_link_refused")
        raise NotAuthenticated(
            "this tracking link is invalid, expired or revoked", code="invalid_link"
        )
    job = await session.get(Job, link.job_id)
    assert job is not None
    return job


async def technician_of(session: AsyncSession, job: Job) -> Technician | None:
    return await session.get(Technician, job.technician_id) if job.technician_id else None


async def link_alive(
    maker: async_sessionmaker[AsyncSession], token: str, *, key: str, now: datetime
) -> bool:
    """Whether the link still opens its job (checked again while a tracking stream is open)."""
    async with maker() as session:
        try:
            await job_for_link(session, token, key=key, now=now)
        except NotAuthenticated:
            return False
    return True


def link_visitor(
    job: Job, *, at: datetime, client_addr: str | None, user_agent: str | None = None
) -> Actor:
    """The customer of the job, as far as a stream is concerned: their own job, nothing else."""
    return Actor(
        user_id=None,
        username=f"link:job-{job.id}",
        role="customer",
        technician_id=None,
        customer_id=job.customer_id,
        client_addr=client_addr,
        user_agent=user_agent,
        at=at,
    )


async def track_view(
    session: AsyncSession, job: Job, token: str, *, settings: Settings
) -> TrackView:
    """Everything the customer's page shows, and nothing else."""
    technician = await technician_of(session, job)
    receipt = None
    invoice = await invoice_of(session, job.id) if job.state in ("completed", "invoiced") else None
    if invoice is not None:
        paid, balance = await settlement(session, invoice)
        receipt = Receipt(
            number=invoice.number or f"DRAFT-{job.id}", total_cents=invoice.total_cents,
            customer_share_cents=invoice.customer_share_cents,
            insurer_share_cents=invoice.insurer_share_cents, paid_cents=paid,
            balance_cents=balance, currency=settings.currency,
            pdf_url=f"/api/v1/track/{token}/invoice.pdf",
        )  # fmt: skip
    return TrackView(
        shop_name=settings.shop_name, shop_phone=settings.shop_phone,
        timezone=settings.business_timezone, job=JobCustomerView.of(job, technician),
        receipt=receipt, survey=await survey_state(session, job),
    )  # fmt: skip

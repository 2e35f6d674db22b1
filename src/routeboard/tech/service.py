"""A technician's day as their phone shows it: each job's next step and what it still needs."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from urllib.parse import quote
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from routeboard.deps import Actor
from routeboard.errors import Forbidden
from routeboard.jobs.schemas import Site, VehicleRead, Window
from routeboard.jobs.service import guard_contexts
from routeboard.jobs.states import GUARDS, TRANSITIONS, Action, GuardContext
from routeboard.models import Customer, Invoice, Job, Payment
from routeboard.tech.schemas import NextAction, TechDay, TechJob

NEXT: dict[str, NextAction] = {
    "scheduled": "start_travel",
    "en_route": "start_work",
    "in_progress": "complete",
}
# What a technician reads on the Finish button, for the rules that stand in its way.
IN_WORDS: dict[str, Callable[[GuardContext], str]] = {
    "missing_before_photo": lambda c: f"{max(1 - c.before_photos, 1)} before photo needed",
    "missing_after_photo": lambda c: f"{max(1 - c.after_photos, 1)} after photo needed",
    "missing_signature": lambda c: "customer signature needed",
}
SHOWN = ("scheduled", "en_route", "in_progress", "completed", "invoiced")


def missing(action: NextAction | None, ctx: GuardContext) -> list[str]:
    """Every rule the next action would be refused by (not just the first), in words."""
    if action is None:
        return []
    found = []
    for name in TRANSITIONS[Action(action)].guards:
        guard = GUARDS[name]
        if guard.refuses(ctx):
            words = IN_WORDS.get(name)
            found.append(words(ctx) if words else guard.message(ctx))
    return found


def navigate_url(site: Site) -> str:
    # The maps app's universal link: the phone opens its own navigation app.
    where = quote(f"{site.lat},{site.lon}")
    return f"https://www.google.com/maps/dir/?api=1&destination={where}"


async def technician_day(
    session: AsyncSession, actor: Actor, day: date | None, tz: ZoneInfo
) -> TechDay:
    """The technician's jobs of ``day`` (today in the shop's zone by default), by start time."""
    if actor.role != "technician" or actor.technician_id is None:
        raise Forbidden("this is a technician's own day", code="role_not_allowed")
    day = day or actor.at.astimezone(tz).date()
    start = datetime.combine(day, time(0), tzinfo=tz)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz)
    jobs = (
        await session.execute(
            select(Job, Customer)
            .join(Customer, Customer.id == Job.customer_id)
            .where(
                Job.technician_id == actor.technician_id,
                Job.state.in_(SHOWN),
                Job.scheduled_start >= start,
                Job.scheduled_start < end,
            )
            .order_by(Job.scheduled_start, Job.id)
        )
    ).all()
    ids = [job.id for job, _ in jobs]
    paid = dict(
        (
            await session.execute(
                select(Invoice.job_id, func.coalesce(func.sum(Payment.amount_cents), 0))
                .join(Payment, Payment.invoice_id == Invoice.id)
                .where(Invoice.job_id.in_(ids), Payment.status == "succeeded")
                .group_by(Invoice.job_id)
            )
        ).all()
    )
    shares = {
        job_id: (customer, insurer)
        for job_id, customer, insurer in (
            await session.execute(
                select(
                    Invoice.job_id, Invoice.customer_share_cents, Invoice.insurer_share_cents
                ).where(Invoice.job_id.in_(ids))
            )
        ).all()
    }
    contexts = await guard_contexts(session, [job for job, _ in jobs], actor)
    out = []
    for job, customer in jobs:
        ctx = contexts[job.id]
        action = NEXT.get(job.state)
        site = Site(address=job.site_address, lat=job.site_lat, lon=job.site_lon)
        v = job.vehicle
        out.append(
            TechJob(
                id=job.id,
                state=job.state,
                customer_first_name=customer.name.split()[0] if customer.name else "",
                customer_phone=customer.phone,
                site=site,
                navigate_url=navigate_url(site),
                window=Window.of(job),
                scheduled_start=job.scheduled_start,
                scheduled_end=job.scheduled_end,
                vehicle=VehicleRead(year=v.year, make=v.make, model=v.model, vin=v.vin),
                service_type=job.service_type,
                notes=job.notes,
                before_photos=ctx.before_photos,
                after_photos=ctx.after_photos,
                signed=ctx.has_signature,
                next_action=action,
                missing=missing(action, ctx),
                amount_due_cents=shares[job.id][0] if job.id in shares else None,
                insurer_share_cents=shares[job.id][1] if job.id in shares else None,
                paid_cents=int(paid.get(job.id, 0)),
            )
        )
    return TechDay(
        technician_id=actor.technician_id, date=day.isoformat(), timezone=str(tz), jobs=out,
        server_time=actor.at,
    )  # fmt: skip

"""Quote changes: writing the lines and approving them."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from routeboard.access import access_job, load_job_for_action
from routeboard.audit.service import append_audit
from routeboard.deps import Actor
from routeboard.errors import Conflict, NotFound
from routeboard.events.schemas import QuoteChanged
from routeboard.events.service import record_event
from routeboard.models import Job, Quote, QuoteLine
from routeboard.quotes.pricing import line_amount, rate_to_bp, totals
from routeboard.quotes.schemas import QuotePut

# Once the work is done the quote is what the invoice was drafted from: it is evidence.
EDITABLE_STATES = frozenset({"quoted", "scheduled", "en_route", "in_progress"})


async def _quote_of(session: AsyncSession, job: Job) -> Quote | None:
    query = select(Quote).where(Quote.job_id == job.id)
    return (await session.execute(query)).scalar_one_or_none()


async def get_quote(session: AsyncSession, job_id: int, *, actor: Actor) -> Quote:
    job = await access_job(session, actor, job_id)
    quote = await _quote_of(session, job)
    if quote is None:
        raise NotFound(f"job {job_id} has no quote yet", code="quote_not_found")
    return quote


async def put_quote(session: AsyncSession, job_id: int, data: QuotePut, *, actor: Actor) -> Quote:
    """Replace the quote's lines; an approved quote goes back to draft."""
    job = await load_job_for_action(session, actor, job_id)
    if job.state not in EDITABLE_STATES:
        raise Conflict(f"the quote of a {job.state} job cannot change", code="quote_locked")
    quote = await _quote_of(session, job)
    previous = quote.status if quote else None
    if quote is None:
        quote = Quote(job_id=job.id, updated_at=actor.at)
        session.add(quote)
        await session.flush()
        await session.refresh(quote, ["lines"])
    quote.lines.clear()
    await session.flush()
    for position, ln in enumerate(data.lines):
        quote.lines.append(
            QuoteLine(
                position=position,
                kind=ln.kind,
                description=ln.description,
                part_number=ln.part_number or None,
                quantity=ln.quantity,
                unit_price_cents=ln.unit_price_cents,
                amount_cents=line_amount(ln.quantity, ln.unit_price_cents),
            )
        )
    quote.tax_rate_bp = rate_to_bp(data.tax_rate)
    t = totals([ln.amount_cents for ln in quote.lines], quote.tax_rate_bp)
    quote.subtotal_cents, quote.tax_cents, quote.total_cents = (
        t.subtotal_cents,
        t.tax_cents,
        t.total_cents,
    )
    quote.status = "draft"
    quote.approved_by_id = None
    quote.approved_at = None
    quote.updated_at = actor.at
    await session.flush()
    await append_audit(
        session,
        job,
        actor=actor,
        action="quote.updated",
        data={
            "previous_status": previous,
            "total_cents": quote.total_cents,
            "lines": len(data.lines),
        },
    )
    await record_event(
        session,
        QuoteChanged(
            job_id=job.id,
            technician_id=job.technician_id,
            status="draft",
            total_cents=t.total_cents,
        ),
        at=actor.at,
        job=job,
    )
    return quote


async def approve_quote(
    session: AsyncSession, job_id: int, *, actor: Actor, note: str | None = None
) -> Quote:
    """Mark a draft or sent quote approved (the customer or insurer agreed)."""
    job = await load_job_for_action(session, actor, job_id)
    quote = await _quote_of(session, job)
    if quote is None:
        raise Conflict(f"job {job_id} has no quote to approve", code="quote_missing")
    if quote.status not in ("draft", "sent"):
        raise Conflict(f"a {quote.status} quote cannot be approved", code="quote_not_approvable")
    quote.status = "approved"
    quote.approved_by_id = actor.user_id
    quote.approved_at = actor.at
    await session.flush()
    await append_audit(
        session,
        job,
        actor=actor,
        action="quote.approved",
        reason=note,
        data={"total_cents": quote.total_cents},
    )
    await record_event(
        session,
        QuoteChanged(
            job_id=job.id,
            technician_id=job.technician_id,
            status="approved",
            total_cents=quote.total_cents,
        ),
        at=actor.at,
        job=job,
    )
    return quote

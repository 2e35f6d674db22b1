"""Invoices: drafted from the approved quote on completion, numbered when the job is invoiced."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from routeboard.errors import Conflict, NotFound
from routeboard.models import Counter, Invoice, Job, Payment, Quote
from routeboard.quotes.pricing import split


async def draft_invoice(session: AsyncSession, job: Job, *, at: datetime) -> Invoice:
    """Copy the approved quote's lines and totals into a draft invoice with the insurance split."""
    quote = (
        await session.execute(select(Quote).where(Quote.job_id == job.id))
    ).scalar_one_or_none()
    if quote is None or quote.status != "approved":
        raise Conflict("the quote must be approved", code="quote_not_approved")
    insurer, customer = split(
        quote.total_cents, job.deductible_cents if job.insurance_carrier else None
    )
    lines = [
        {
            "kind": ln.kind,
            "description": ln.description,
            "part_number": ln.part_number,
            "quantity": ln.quantity,
            "unit_price_cents": ln.unit_price_cents,
            "amount_cents": ln.amount_cents,
        }
        for ln in quote.lines
    ]
    invoice = await invoice_of(session, job.id)
    if invoice is None:
        invoice = Invoice(job_id=job.id, created_at=at)
        session.add(invoice)
    invoice.status = "draft"
    invoice.lines = lines
    invoice.tax_rate_bp = quote.tax_rate_bp
    invoice.subtotal_cents = quote.subtotal_cents
    invoice.tax_cents = quote.tax_cents
    invoice.total_cents = quote.total_cents
    invoice.insurer_share_cents = insurer
    invoice.customer_share_cents = customer
    await session.flush()
    return invoice


async def _next_number(session: AsyncSession, year: int) -> str:
    name = f"invoice-{year}"
    counter = (
        await session.execute(select(Counter).where(Counter.name == name).with_for_update())
    ).scalar_one_or_none()
    if counter is None:
        counter = Counter(name=name, value=0)
        session.add(counter)
    counter.value += 1
    await session.flush()
    return f"INV-{year}-{counter.value:06d}"


async def issue_invoice(session: AsyncSession, job: Job, *, at: datetime) -> Invoice:
    """Give the draft its permanent, gap-free number."""
    invoice = await invoice_of(session, job.id)
    if invoice is None:
        raise Conflict("the job has no draft invoice", code="not_completed")
    invoice.number = await _next_number(session, at.year)
    invoice.status = "issued"
    invoice.issued_at = at
    await session.flush()
    return invoice


async def invoice_of(session: AsyncSession, job_id: int) -> Invoice | None:
    """The job's invoice (draft or issued), if it has one."""
    query = select(Invoice).where(Invoice.job_id == job_id)
    return (await session.execute(query)).scalar_one_or_none()


async def get_invoice(session: AsyncSession, job: Job) -> Invoice:
    invoice = await invoice_of(session, job.id)
    if invoice is None:
        raise NotFound(f"job {job.id} has no invoice yet", code="invoice_not_found")
    return invoice


async def settlement(session: AsyncSession, invoice: Invoice) -> tuple[int, int]:
    """What the customer has paid on the invoice so far (settled payments only), and what
    they still owe of their share."""
    total = await session.execute(
        select(func.coalesce(func.sum(Payment.amount_cents), 0)).where(
            Payment.invoice_id == invoice.id, Payment.status == "succeeded"
        )
    )
    paid = int(total.scalar_one())
    return paid, max(0, invoice.customer_share_cents - paid)


def money(cents: int) -> str:
    """Cents as the customer reads them in a message: $1,234.50."""
    return f"${cents / 100:,.2f}"

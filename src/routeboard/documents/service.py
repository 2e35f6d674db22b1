"""A job's paperwork gathered from the database and the evidence on disk, rendered as PDF."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import anyio.to_thread
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from routeboard.access import access_job
from routeboard.config import Settings
from routeboard.deps import Actor
from routeboard.documents.pdf import (
    JobDocument,
    Line,
    PaymentLine,
    Picture,
    Signed,
    Step,
    render,
)
from routeboard.errors import Conflict
from routeboard.invoices.service import invoice_of
from routeboard.models import (
    AuditEntry,
    Customer,
    Payment,
    Photo,
    Quote,
    Signature,
)
from routeboard.quotes.pricing import split

Kind = Literal["work_order", "invoice"]


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""  # rendered as "photo unreadable": a missing file must not hide the rest


async def job_document(
    session: AsyncSession, job_id: int, kind: Kind, *, actor: Actor, settings: Settings
) -> bytes:
    """The signed work order (from the approved quote) or the invoice (once completed)."""
    job = await access_job(session, actor, job_id)
    customer = await session.get(Customer, job.customer_id)
    assert customer is not None
    invoice = await invoice_of(session, job.id)
    payments: list[PaymentLine] = []
    if kind == "invoice":
        if invoice is None:
            raise Conflict("the invoice exists once the job is completed", code="not_completed")
        number = invoice.number or f"DRAFT-{job.id}"
        lines = [
            Line(
                description=ln["description"], part_number=ln.get("part_number"),
                quantity=ln["quantity"], unit_price_cents=ln["unit_price_cents"],
                amount_cents=ln["amount_cents"],
            )
            for ln in invoice.lines
        ]  # fmt: skip
        totals = (invoice.subtotal_cents, invoice.tax_cents, invoice.total_cents)
        shares = (invoice.insurer_share_cents, invoice.customer_share_cents)
        rows = await session.execute(
            select(Payment).where(Payment.invoice_id == invoice.id).order_by(Payment.id)
        )
        payments = [
            PaymentLine(p.method, p.amount_cents, p.status, p.settled_at or p.created_at)
            for p in rows.scalars()
        ]
        issued = invoice.issued_at or invoice.created_at
    else:
        quote = (
            await session.execute(select(Quote).where(Quote.job_id == job.id))
        ).scalar_one_or_none()
        if quote is None:
            raise Conflict("the job has no quote yet", code="quote_not_approved")
        number = f"WO-{job.id}"
        lines = [
            Line(ln.description, ln.part_number, ln.quantity, ln.unit_price_cents, ln.amount_cents)
            for ln in quote.lines
        ]
        totals = (quote.subtotal_cents, quote.tax_cents, quote.total_cents)
        shares = split(quote.total_cents, job.deductible_cents if job.insurance_carrier else None)
        issued = actor.at
    root = settings.upload_dir
    photos = (
        await session.execute(select(Photo).where(Photo.job_id == job.id).order_by(Photo.id))
    ).scalars()
    pictures = [
        Picture(
            p.kind,
            await anyio.to_thread.run_sync(_read, root / "photos" / p.stored_name),
            p.created_at,
        )
        for p in photos
    ]
    signature = (
        (
            await session.execute(
                select(Signature).where(Signature.job_id == job.id).order_by(Signature.id.desc())
            )
        )
        .scalars()
        .first()
    )
    signed = None
    if signature is not None:
        image = await anyio.to_thread.run_sync(_read, root / "signatures" / signature.stored_name)
        signed = Signed(signature.signer_name, image, signature.signed_at)
    entries = await session.execute(
        select(AuditEntry).where(AuditEntry.job_id == job.id).order_by(AuditEntry.seq)
    )
    # The customer's copy names roles, not the staff's logins: those are the shop's business.
    staff_names = actor.role != "customer"
    steps = [
        Step(
            e.at, e.action, f"{e.actor_name} ({e.actor_role})" if staff_names else e.actor_role,
            e.from_state, e.to_state,
        )
        for e in entries.scalars()
    ]  # fmt: skip
    v = job.vehicle
    doc = JobDocument(
        kind=kind, number=number, shop_name=settings.shop_name, shop_address=None,
        shop_phone=None, customer_name=customer.name, customer_phone=customer.phone,
        customer_email=customer.email, site_address=job.site_address,
        vehicle=f"{v.year} {v.make} {v.model}", vin=v.vin, service_type=job.service_type,
        insurance_carrier=job.insurance_carrier, claim_number=job.claim_number,
        policy_number=job.policy_number, lines=lines, subtotal_cents=totals[0],
        tax_cents=totals[1], total_cents=totals[2], insurer_share_cents=shares[0],
        customer_share_cents=shares[1], payments=payments, pictures=pictures, signature=signed,
        steps=steps, tz=settings.tz, issued_at=issued,
    )  # fmt: skip
    # Decoding and scaling photos is CPU work: off the event loop.
    return await anyio.to_thread.run_sync(render, doc)

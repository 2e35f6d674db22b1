"""Taking payment for a completed job: by card through a provider, or recorded by hand.

The amount is what the customer still owes: their share of the invoice (the deductible when
insurance pays the rest) less what they have paid. Retrying a tap never charges twice: a
pending card checkout for the same amount is shown again, the provider is called with an
idempotency key derived from the invoice and the amount, and the route stores its answer under
the phone's ``Idempotency-Key``. A webhook is acted on once per event id.
"""

from __future__ import annotations

import logging

import httpx
import segno
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from routeboard.access import access_job, load_job_for_field_work
from routeboard.audit.service import append_audit
from routeboard.clock import Clock
from routeboard.config import Settings
from routeboard.deps import Actor
from routeboard.errors import Conflict, NotFound
from routeboard.events.schemas import PaymentChanged
from routeboard.events.service import record_event
from routeboard.invoices.service import invoice_of, money, settlement
from routeboard.models import Invoice, Job, Payment, PaymentEvent
from routeboard.payments.provider import (
    MemoryProvider,
    PaymentError,
    PaymentProvider,
    PaymentUpdate,
    StripeProvider,
)
from routeboard.payments.schemas import Method, PaymentRead

log = logging.getLogger(__name__)
PAYABLE_STATES = frozenset({"completed", "invoiced"})


def make_provider(
    settings: Settings, http: httpx.AsyncClient, clock: Clock
) -> PaymentProvider | None:
    """The card provider the settings name; None when card payments are not set up."""
    if settings.payment_provider == "stripe":
        if not settings.stripe_secret_key or not settings.stripe_webhook_secret:
            raise RuntimeError(
                "ROUTEBOARD_PAYMENT_PROVIDER=stripe needs ROUTEBOARD_STRIPE_SECRET_KEY and "
                "ROUTEBOARD_STRIPE_WEBHOOK_SECRET"
            )
        return StripeProvider(
            settings.stripe_secret_key,
            settings.stripe_webhook_secret,
            http,
            base_url=settings.stripe_api_url,
            clock=clock,
        )
    if settings.payment_provider == "memory":
        return MemoryProvider(page_url=f"{settings.public_url.rstrip('/')}/pay/memory", clock=clock)
    return None


def read(payment: Payment, job_id: int) -> PaymentRead:
    qr = None
    if payment.status == "pending" and payment.checkout_url:
        # An SVG the phone shows as is: the customer scans it and pays on their own phone.
        qr = segno.make(payment.checkout_url, error="m").svg_inline(scale=5, border=2)
    return PaymentRead(
        id=payment.id,
        job_id=job_id,
        method=payment.method,
        amount_cents=payment.amount_cents,
        status=payment.status,
        provider=payment.provider,
        reference=payment.reference,
        checkout_url=payment.checkout_url if payment.status == "pending" else None,
        qr_svg=qr,
        created_at=payment.created_at,
        settled_at=payment.settled_at,
    )


async def _invoice(session: AsyncSession, job: Job) -> Invoice:
    if job.state not in PAYABLE_STATES:
        raise Conflict(
            f"payment is taken once the job is completed (it is {job.state})",
            code="job_not_completed",
        )
    invoice = await invoice_of(session, job.id)
    if invoice is None:  # drafted at completion; missing only if data was edited by hand
        raise Conflict("the job has no invoice", code="no_invoice")
    return invoice


async def start_payment(
    session: AsyncSession,
    job_id: int,
    method: Method,
    *,
    actor: Actor,
    provider: PaymentProvider | None,
    settings: Settings,
) -> Payment:
    """Take what the customer owes on a completed job by ``method``."""
    job = await load_job_for_field_work(session, actor, job_id)
    invoice = await _invoice(session, job)
    _, due = await settlement(session, invoice)
    if method == "insurance_only":
        if due > 0:
            # The customer's share is theirs to pay: waiving a deductible is not ours to offer.
            raise Conflict(
                f"the customer still owes {money(due)} (their share); take it by card, cash "
                "or cheque",
                code="customer_share_due",
                details={"due_cents": due},
            )
        payment = Payment(invoice_id=invoice.id, method=method, amount_cents=0, status="succeeded")
    elif due <= 0:
        raise Conflict("nothing is due on this job", code="nothing_due", details={"due_cents": 0})
    elif method == "card":
        payment = await _card(session, job, invoice, due, provider, settings)
    else:
        payment = Payment(
            invoice_id=invoice.id, method=method, amount_cents=due, status="succeeded"
        )
    if payment.id is None:
        payment.provider = payment.provider or "manual"
        payment.recorded_by_id = actor.user_id
        payment.created_at = actor.at
        if payment.status == "succeeded":
            payment.settled_at = actor.at
        session.add(payment)
        await session.flush()
        await _tell(session, job, payment, actor=actor)
    return payment


async def _card(
    session: AsyncSession,
    job: Job,
    invoice: Invoice,
    due: int,
    provider: PaymentProvider | None,
    settings: Settings,
) -> Payment:
    if provider is None:
        raise Conflict(
            "card payments are not set up; take cash or cheque, or use the shop's terminal",
            code="card_not_configured",
        )
    rows = await session.execute(
        select(Payment).where(Payment.invoice_id == invoice.id, Payment.method == "card")
    )
    earlier = list(rows.scalars())
    for payment in earlier:
        if payment.status == "pending" and payment.amount_cents == due:
            return payment  # the same checkout again: a second tap never opens a second one
    failed = sum(p.status == "failed" for p in earlier)
    base = settings.public_url.rstrip("/")
    try:
        checkout = await provider.start(
            amount_cents=due,
            currency=settings.currency,
            description=f"{settings.shop_name}: job {job.id}",
            # Derived, not random: a retry after a crash reaches the same checkout.
            idempotency_key=f"routeboard-invoice-{invoice.id}-due-{due}-try-{failed}",
            metadata={"job_id": str(job.id), "invoice_id": str(invoice.id)},
            success_url=f"{base}/tech?paid={job.id}",
            cancel_url=f"{base}/tech",
        )
    except PaymentError as exc:
        raise Conflict(str(exc), code="payment_refused") from exc
    return Payment(
        invoice_id=invoice.id,
        method="card",
        amount_cents=due,
        status=checkout.status,
        provider=checkout.provider,
        reference=checkout.reference,
        checkout_url=checkout.url,
    )


async def _tell(session: AsyncSession, job: Job, payment: Payment, *, actor: Actor) -> None:
    action = "payment.succeeded" if payment.status == "succeeded" else f"payment.{payment.status}"
    await append_audit(
        session,
        job,
        actor=actor,
        action=action,
        data={
            "payment_id": payment.id,
            "method": payment.method,
            "amount_cents": payment.amount_cents,
            "provider": payment.provider,
            "reference": payment.reference,
        },
    )
    await record_event(
        session,
        PaymentChanged(
            technician_id=job.technician_id,
            payment_id=payment.id,
            method=payment.method,
            status=payment.status,
            amount_cents=payment.amount_cents,
        ),
        at=actor.at,
        job=job,
    )


async def list_payments(session: AsyncSession, job_id: int, *, actor: Actor) -> list[Payment]:
    job = await access_job(session, actor, job_id)
    rows = await session.execute(
        select(Payment)
        .join(Invoice, Invoice.id == Payment.invoice_id)
        .where(Invoice.job_id == job.id)
        .order_by(Payment.id)
    )
    return list(rows.scalars())


async def settle(session: AsyncSession, update: PaymentUpdate, *, actor: Actor) -> bool:
    """Apply a verified webhook; False when it changes nothing (seen before, not ours, or the
    payment already settled)."""
    payment = (
        await session.execute(
            select(Payment).where(Payment.reference == update.reference).with_for_update()
        )
    ).scalar_one_or_none()
    if payment is None:
        log.info("webhook for a checkout we did not open: %s", update.reference)
        return False
    seen = await session.execute(
        select(PaymentEvent.id).where(PaymentEvent.event_id == update.event_id)
    )
    if seen.first() is not None:
        return False
    session.add(
        PaymentEvent(
            event_id=update.event_id,
            payment_id=payment.id,
            status=update.status,
            received_at=actor.at,
        )
    )
    if payment.status != "pending":
        await session.flush()
        return False  # a settled payment stays settled (events arrive in any order)
    invoice = await session.get(Invoice, payment.invoice_id)
    if invoice is None:
        raise NotFound("the payment's invoice is gone", code="no_invoice")
    job = (
        await session.execute(select(Job).where(Job.id == invoice.job_id).with_for_update())
    ).scalar_one()
    payment.status = update.status
    payment.settled_at = actor.at
    if update.status == "succeeded" and update.amount_cents != payment.amount_cents:
        log.warning(
            "payment %s: provider took %s, we asked %s", payment.id, update.amount_cents,
            payment.amount_cents,
        )  # fmt: skip
        payment.amount_cents = update.amount_cents  # what was really taken
    await session.flush()
    await _tell(session, job, payment, actor=actor)
    return True


async def pay_demo_checkout(
    session: AsyncSession, provider: MemoryProvider, reference: str, *, actor: Actor
) -> bool:
    """The demo's card page: the twin "takes" the card and its webhook is applied exactly as
    Stripe's would be (signed, parsed, settled once)."""
    if provider.checkout_of(reference) is None:
        raise NotFound("no such checkout", code="checkout_not_found")
    delivery = provider.pay(reference)
    update = provider.parse_webhook(delivery.payload, delivery.headers)
    return update is not None and await settle(session, update, actor=actor)

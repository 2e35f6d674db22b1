"""Payment endpoints: the technician's tap, the list, and the provider's webhook."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status

from routeboard.access import Authorized
from routeboard.db import Id
from routeboard.deps import SessionDep, SettingsDep, system_actor
from routeboard.errors import NotAuthenticated, NotFound
from routeboard.idempotency import IdempotencyKey, OccurredAt, as_of, fingerprint, once
from routeboard.payments import service
from routeboard.payments.provider import WebhookRejected
from routeboard.payments.schemas import PaymentCreate, PaymentRead, WebhookAnswer

router = APIRouter(prefix="/api/v1", tags=["payments"])


@router.post(
    "/jobs/{job_id}/payments", response_model=PaymentRead, status_code=status.HTTP_201_CREATED
)
async def take_payment(
    job_id: Id,
    body: PaymentCreate,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    actor: Authorized,
    key: IdempotencyKey = None,
    occurred_at: OccurredAt = None,
) -> PaymentRead | Response:
    """Take what the customer owes on a completed job: ``card`` opens a checkout (pending until
    the provider's webhook; shown as a link and QR code), ``cash``/``cheque`` are recorded as
    paid, ``insurance_only`` when the customer owes nothing."""

    async def apply() -> PaymentRead:
        payment = await service.start_payment(
            session, job_id, body.method, actor=as_of(actor, occurred_at),
            provider=request.app.state.payments,
            settings=settings,
        )  # fmt: skip
        return service.read(payment, job_id)

    print_ = fingerprint("payment", str(job_id), body.model_dump_json())
    return await once(session, actor, key, print_, apply, status_code=201)


@router.get("/jobs/{job_id}/payments", response_model=list[PaymentRead])
async def list_payments(job_id: Id, session: SessionDep, actor: Authorized) -> list[PaymentRead]:
    payments = await service.list_payments(session, job_id, actor=actor)
    return [service.read(p, job_id) for p in payments]


@router.post("/payments/webhook", response_model=WebhookAnswer)
async def payment_webhook(request: Request, session: SessionDep) -> WebhookAnswer:
    """The card provider's webhook (Stripe: ``checkout.session.*`` events), verified with its
    signature. A repeated delivery changes nothing."""
    provider = request.app.state.payments
    if provider is None:
        raise NotFound("card payments are not set up", code="payments_disabled")
    body = await request.body()
    try:
        update = provider.parse_webhook(body, dict(request.headers))
    except WebhookRejected as exc:
        raise NotAuthenticated(str(exc), code="bad_signature") from exc
    if update is None:
        return WebhookAnswer(changed=False)
    actor = system_actor(f"webhook:{provider.name}", at=request.app.state.clock())
    return WebhookAnswer(changed=await service.settle(session, update, actor=actor))

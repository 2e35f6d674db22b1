"""Quote endpoints."""

from __future__ import annotations

from fastapi import APIRouter

from routeboard.access import Authorized
from routeboard.db import Id
from routeboard.deps import SessionDep
from routeboard.quotes import service
from routeboard.quotes.schemas import QuoteApproval, QuotePut, QuoteRead

router = APIRouter(prefix="/api/v1/jobs", tags=["quotes"])


@router.get("/{job_id}/quote", response_model=QuoteRead)
async def read_quote(job_id: Id, session: SessionDep, actor: Authorized) -> QuoteRead:
    return QuoteRead.model_validate(await service.get_quote(session, job_id, actor=actor))


@router.put("/{job_id}/quote", response_model=QuoteRead)
async def put_quote(
    job_id: Id, body: QuotePut, session: SessionDep, actor: Authorized
) -> QuoteRead:
    return QuoteRead.model_validate(await service.put_quote(session, job_id, body, actor=actor))


@router.post("/{job_id}/quote/approve", response_model=QuoteRead)
async def approve_quote(
    job_id: Id, session: SessionDep, actor: Authorized, body: QuoteApproval | None = None
) -> QuoteRead:
    quote = await service.approve_quote(
        session, job_id, actor=actor, note=body.note if body else None
    )
    return QuoteRead.model_validate(quote)

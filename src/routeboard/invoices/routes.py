"""Invoice endpoints."""

from __future__ import annotations

from fastapi import APIRouter

from routeboard.access import Authorized, access_job
from routeboard.db import Id
from routeboard.deps import SessionDep
from routeboard.invoices.schemas import InvoiceRead
from routeboard.invoices.service import get_invoice

router = APIRouter(prefix="/api/v1/jobs", tags=["invoices"])


@router.get("/{job_id}/invoice", response_model=InvoiceRead)
async def read_invoice(job_id: Id, session: SessionDep, actor: Authorized) -> InvoiceRead:
    job = await access_job(session, actor, job_id)
    return InvoiceRead.model_validate(await get_invoice(session, job))

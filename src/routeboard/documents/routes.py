"""A job's documents as PDF: the signed work order and the invoice."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from routeboard.access import Authorized
from routeboard.db import Id
from routeboard.deps import SessionDep, SettingsDep
from routeboard.documents import service

router = APIRouter(prefix="/api/v1/jobs", tags=["documents"])
PDF: dict[int | str, dict[str, Any]] = {200: {"content": {"application/pdf": {}}}}


def pdf_response(content: bytes, name: str) -> Response:
    headers = {"Content-Disposition": f'inline; filename="{name}"', "Cache-Control": "private"}
    return Response(content, media_type="application/pdf", headers=headers)


@router.get("/{job_id}/documents/work-order.pdf", response_class=Response, responses=PDF)
async def work_order(
    job_id: Id, session: SessionDep, settings: SettingsDep, actor: Authorized
) -> Response:
    """Customer, vehicle and VIN, claim, line items and the insurer/customer split, photos,
    signature and the audit trail's times."""
    content = await service.job_document(
        session, job_id, "work_order", actor=actor, settings=settings
    )
    return pdf_response(content, f"work-order-{job_id}.pdf")


@router.get("/{job_id}/documents/invoice.pdf", response_class=Response, responses=PDF)
async def invoice(
    job_id: Id, session: SessionDep, settings: SettingsDep, actor: Authorized
) -> Response:
    """The invoice with payments received and the balance due (once the job is completed)."""
    content = await service.job_document(session, job_id, "invoice", actor=actor, settings=settings)
    return pdf_response(content, f"invoice-{job_id}.pdf")

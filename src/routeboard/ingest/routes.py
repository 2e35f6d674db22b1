"""Ways in for availability reports: a batch endpoint for devices and integrations."""

from __future__ import annotations

from fastapi import APIRouter

from routeboard.access import Authorized
from routeboard.deps import SessionDep
from routeboard.ingest import service
from routeboard.ingest.schemas import IngestAnswer, IngestBatch, RejectedRead
from routeboard.pagination import Page, PageDep

router = APIRouter(prefix="/api/v1/ingest", tags=["ingest"])


@router.post("/events", response_model=IngestAnswer)
async def ingest_events(body: IngestBatch, session: SessionDep, actor: Authorized) -> IngestAnswer:
    """Up to 1,000 normalised reports (``X-API-Key``), each answered ``accepted``,
    ``duplicate`` or ``rejected`` with its reason; rejected ones are kept for admins."""
    return await service.ingest_events(session, body.events, actor=actor)


@router.get("/rejected", response_model=Page[RejectedRead])
async def list_rejected(
    session: SessionDep, actor: Authorized, page: PageDep
) -> Page[RejectedRead]:
    """Reports that could not be used, newest first, with the reason and the payload."""
    items, total = await service.list_rejected(session, page=page)
    return Page[RejectedRead].of(
        [RejectedRead.model_validate(r, from_attributes=True) for r in items], total, page
    )

"""Customer tracking links: created and revoked by the office, read with the link alone."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request, Response, status

from routeboard.access import Authorized
from routeboard.db import Id
from routeboard.deps import Actor, SessionDep, SettingsDep, client_of
from routeboard.documents.routes import PDF, pdf_response
from routeboard.documents.service import job_document
from routeboard.events.board import BoardFilter
from routeboard.events.routes import EventStreamResponse, event_stream
from routeboard.feedback.schemas import FeedbackIn, FeedbackRead
from routeboard.feedback.service import answer
from routeboard.models import Job
from routeboard.tracking import service
from routeboard.tracking.schemas import TrackingLinkCreated, TrackingLinksRevoked, TrackView

router = APIRouter(prefix="/api/v1", tags=["tracking"])


@router.post(
    "/jobs/{job_id}/tracking-link",
    response_model=TrackingLinkCreated,
    status_code=status.HTTP_201_CREATED,
)
async def create_tracking_link(
    job_id: Id, request: Request, session: SessionDep, settings: SettingsDep, actor: Authorized
) -> TrackingLinkCreated:
    link, token = await service.create_link(
        session, job_id, key=request.app.state.signing_key, settings=settings, actor=actor
    )
    url = f"{settings.public_url.rstrip('/')}/track/{token}"
    return TrackingLinkCreated(url=url, token=token, expires_at=link.expires_at)


@router.delete("/jobs/{job_id}/tracking-link", response_model=TrackingLinksRevoked)
async def revoke_tracking_links(
    job_id: Id, session: SessionDep, actor: Authorized
) -> TrackingLinksRevoked:
    revoked = await service.revoke_links(session, job_id, actor=actor)
    return TrackingLinksRevoked(job_id=job_id, revoked=revoked)


async def _visit(request: Request, session: SessionDep, token: str) -> tuple[Job, Actor]:
    """The job the link opens, and the link's holder (its customer) as the actor."""
    clock = request.app.state.clock
    job = await service.job_for_link(session, token, key=request.app.state.signing_key, now=clock())
    addr, agent = client_of(request)
    return job, service.link_visitor(job, at=clock(), client_addr=addr, user_agent=agent)


@router.get("/track/{token}", response_model=TrackView)
async def read_tracking(
    token: str, request: Request, session: SessionDep, settings: SettingsDep
) -> TrackView:
    """The customer's view of one job, opened by the signed link alone."""
    job, _ = await _visit(request, session, token)
    return await service.track_view(session, job, token, settings=settings)


@router.post("/track/{token}/feedback", response_model=FeedbackRead)
async def send_feedback(
    token: str, body: FeedbackIn, request: Request, session: SessionDep
) -> FeedbackRead:
    """The customer's rating (once the work is done) or "did we arrive on time?" (once the
    technician is there). Answering again replaces the earlier answer."""
    job, visitor = await _visit(request, session, token)
    row = await answer(session, job.id, body, actor=visitor)
    return FeedbackRead(
        kind=row.kind, rating=row.rating, on_time=row.on_time, comment=row.comment,
        created_at=row.created_at,
    )  # fmt: skip


@router.get("/track/{token}/invoice.pdf", response_class=Response, responses=PDF)
async def tracking_invoice(
    token: str, request: Request, session: SessionDep, settings: SettingsDep
) -> Response:
    """The invoice, for the customer holding the link (once the work is done)."""
    job, visitor = await _visit(request, session, token)
    content = await job_document(session, job.id, "invoice", actor=visitor, settings=settings)
    return pdf_response(content, f"invoice-{job.id}.pdf")


@router.get(
    "/track/{token}/stream",
    response_class=EventStreamResponse,
    status_code=200,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def tracking_stream(
    token: str,
    request: Request,
    session: SessionDep,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
) -> EventStreamResponse:
    """The customer's live view of their job, opened by the link; revoking the link ends it."""
    key, clock = request.app.state.signing_key, request.app.state.clock
    job, visitor = await _visit(request, session, token)
    maker = request.app.state.sessionmaker

    async def still_allowed() -> bool:
        return await service.link_alive(maker, token, key=key, now=clock())

    resume = int(last_event_id) if last_event_id and last_event_id.isdigit() else None
    return event_stream(visitor, BoardFilter(job_id=job.id), resume, still_allowed)

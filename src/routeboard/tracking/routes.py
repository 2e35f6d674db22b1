"""Customer tracking links: created and revoked by the office, read with the link alone."""

from __future__ import annotations

from fastapi import APIRouter, Request, status

from routeboard.access import Authorized
from routeboard.db import Id
from routeboard.deps import SessionDep, SettingsDep
from routeboard.jobs.schemas import JobCustomerView
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


@router.get("/track/{token}", response_model=TrackView)
async def read_tracking(
    token: str, request: Request, session: SessionDep, settings: SettingsDep
) -> TrackView:
    """The customer's view of one job, opened by the signed link alone."""
    job = await service.job_for_link(
        session, token, key=request.app.state.signing_key, now=request.app.state.clock()
    )
    technician = await service.technician_of(session, job)
    return TrackView(shop_name=settings.shop_name, job=JobCustomerView.of(job, technician))

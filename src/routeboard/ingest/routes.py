"""Ways in for availability reports: a batch endpoint for devices and integrations."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from routeboard.access import Authorized
from routeboard.availability.service import AvailabilityRules
from routeboard.deps import SessionDep, SettingsDep
from routeboard.ingest import service
from routeboard.ingest.schemas import IngestAnswer, IngestBatch, IngestResult, RejectedRead
from routeboard.pagination import Page, PageDep

router = APIRouter(prefix="/api/v1/ingest", tags=["ingest"])


@router.post("/events", response_model=IngestAnswer)
async def ingest_events(
    body: IngestBatch, session: SessionDep, actor: Authorized, request: Request
) -> Response:
    """Up to 1,000 normalised reports (``X-API-Key``), each answered ``accepted``,
    ``duplicate`` or ``rejected`` with its reason; rejected ones are kept for admins."""
    answer = await service.ingest_events(
        session, body.events, actor=actor, rules=AvailabilityRules.of(request.app)
    )
    # Serialised once here: FastAPI would validate the 1,000 answers again on the way out.
    return Response(answer.model_dump_json(), media_type="application/json")


@router.get("/osmand", response_model=IngestResult)
async def ingest_osmand(request: Request, session: SessionDep) -> IngestResult | JSONResponse:
    """The OsmAnd protocol of GPS tracker apps (e.g. Traccar Client): ``id`` (the device's API
    key), ``lat``, ``lon``, ``timestamp``, ``speed`` (knots), ``bearing``, ``altitude``,
    ``accuracy``, ``batt``, as query parameters."""
    return await _osmand(request, session, dict(request.query_params))


@router.post("/osmand", response_model=IngestResult)
async def ingest_osmand_form(request: Request, session: SessionDep) -> IngestResult | JSONResponse:
    """The same, as query or form parameters of a POST."""
    form = await request.form()
    params = dict(request.query_params) | {k: v for k, v in form.items() if isinstance(v, str)}
    return await _osmand(request, session, params)


async def _osmand(
    request: Request, session: AsyncSession, params: dict[str, str]
) -> IngestResult | JSONResponse:
    now = request.app.state.clock()
    rules = AvailabilityRules.of(request.app)
    result = await service.ingest_osmand(session, params, request=request, now=now, rules=rules)
    if result.outcome == "rejected":
        # An answer, not an exception: the transaction (and the dead letter in it) commits.
        body = {"error": "invalid_report", "message": result.detail, "details": result.reason}
        return JSONResponse(body, status_code=422)
    return result


@router.post("/webhook", response_model=IngestAnswer)
async def ingest_webhook(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    timestamp: Annotated[str | None, Header(alias="X-Routeboard-Timestamp")] = None,
    signature: Annotated[str | None, Header(alias="X-Routeboard-Signature")] = None,
) -> IngestAnswer:
    """Reports from other software: ``{"events": [report, ...]}`` (or one report) signed with
    ``X-Routeboard-Signature: sha256=HMAC(secret, "<X-Routeboard-Timestamp>.<body>")``."""
    return await service.ingest_webhook(
        session,
        await request.body(),
        secret=settings.webhook_secret,
        timestamp=timestamp,
        signature=signature,
        request=request,
        now=request.app.state.clock(),
        rules=AvailabilityRules.of(request.app),
    )


@router.get("/rejected", response_model=Page[RejectedRead])
async def list_rejected(
    session: SessionDep, actor: Authorized, page: PageDep
) -> Page[RejectedRead]:
    """Reports that could not be used, newest first, with the reason and the payload."""
    items, total = await service.list_rejected(session, page=page)
    return Page[RejectedRead].of(
        [RejectedRead.model_validate(r, from_attributes=True) for r in items], total, page
    )

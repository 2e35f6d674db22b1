"""Prometheus exposition."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse

from routeboard.access import Authorized
from routeboard.metrics.service import exposition

router = APIRouter(tags=["metrics"])


@router.get("/metrics", response_class=PlainTextResponse)
async def metrics(actor: Authorized) -> PlainTextResponse:
    """Counters in the Prometheus text format, for an admin or an integration key."""
    return PlainTextResponse(exposition(), media_type="text/plain; version=0.0.4")

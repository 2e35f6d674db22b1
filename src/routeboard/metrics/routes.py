"""Prometheus exposition."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse, Response

from routeboard.access import Authorized
from routeboard.metrics.service import exposition

router = APIRouter(tags=["metrics"])


@router.get(
    "/metrics",
    # Declared by hand: as ``response_class`` it would make the JSON errors text/plain too.
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
async def metrics(actor: Authorized) -> PlainTextResponse:
    """Counters in the Prometheus text format, for an admin or an integration key."""
    return PlainTextResponse(exposition(), media_type="text/plain; version=0.0.4")

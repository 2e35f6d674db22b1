"""Liveness and readiness for load balancers and orchestrators."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz", response_model=None)
async def readyz(request: Request) -> JSONResponse | dict[str, str]:
    """The database answers; otherwise 503 so the balancer routes elsewhere.

    With the event bus (Redis) down the instance still serves, its streams fed from the table:
    200, saying ``degraded`` (every instance shares the bus; taking them all out would help
    nobody). The metric ``routeboard_broadcaster_up`` says the same.
    """
    try:
        async with request.app.state.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception as exc:  # any failure means not ready; the reason is in the body
        return JSONResponse(
            {"error": "not_ready", "message": f"database unavailable: {type(exc).__name__}"},
            status_code=503,
        )
    if not request.app.state.broadcaster.up:
        return {"status": "degraded", "broadcaster": "down: live events read from the table"}
    return {"status": "ready", "broadcaster": "up"}

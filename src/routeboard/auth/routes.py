"""API sign-in: password for tokens, refresh with rotation, logout with revocation."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status
from fastapi.responses import JSONResponse
from fastapi.security import OAuth2PasswordRequestForm

from routeboard.access import Authorized
from routeboard.auth import service
from routeboard.auth.schemas import RefreshRequest, Token
from routeboard.auth.service import LoginRefusal
from routeboard.auth.tokens import issue_token
from routeboard.config import Settings
from routeboard.deps import SessionDep, SettingsDep, client_of
from routeboard.metrics.service import auth_event
from routeboard.models import AuthSession, User

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


def refusal_response(refusal: LoginRefusal) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if refusal.status == 401 else {}
    if refusal.retry_after_seconds:
        headers["Retry-After"] = str(refusal.retry_after_seconds)
    body = {"error": refusal.code, "message": refusal.message, "details": None}
    return JSONResponse(body, refusal.status, headers=headers)


def throttled(request: Request) -> LoginRefusal | None:
    addr, _ = client_of(request)
    now = request.app.state.clock().timestamp()
    if request.app.state.login_window.allow(addr or "?", now):
        return None
    auth_event("login_throttled")
    return LoginRefusal("too_many_attempts", "too many sign-in attempts; wait a minute", 429, 60)


def _token(
    request: Request, settings: Settings, user: User, row: AuthSession, refresh: str
) -> Token:
    access = issue_token(
        request.app.state.signing_key,
        user_id=user.id,
        role=user.role,
        token_version=user.token_version,
        session_id=row.id,
        minutes=settings.access_token_minutes,
        now=request.app.state.clock(),
    )
    return Token(
        access_token=access,
        expires_in=settings.access_token_minutes * 60,
        refresh_token=refresh,
        refresh_expires_in=int((row.expires_at - row.created_at).total_seconds()),
    )


ERRORS = {401: {"description": "Wrong credentials"}, 429: {"description": "Throttled or locked"}}


@router.post("/token", response_model=Token, responses=ERRORS)  # type: ignore[arg-type]
async def token(
    request: Request,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    session: SessionDep,
    settings: SettingsDep,
) -> Token | JSONResponse:
    """OAuth2 password flow: a short-lived access token and a rotating refresh token."""
    refused = throttled(request)
    if refused:
        return refusal_response(refused)
    now = request.app.state.clock()
    addr, agent = client_of(request)
    outcome = await service.attempt_login(
        session, form.username, form.password, settings=settings, now=now, client_addr=addr
    )
    if isinstance(outcome, LoginRefusal):
        return refusal_response(outcome)
    row, refresh = await service.open_session(
        session,
        outcome,
        kind="api",
        lifetime=timedelta(days=settings.refresh_token_days),
        now=now,
        client_addr=addr,
        user_agent=agent,
    )
    return _token(request, settings, outcome, row, refresh)


@router.post("/refresh", response_model=Token, responses={401: ERRORS[401]})
async def refresh(
    request: Request, body: RefreshRequest, session: SessionDep, settings: SettingsDep
) -> Token | JSONResponse:
    """A new access token and a new refresh token; the old refresh token stops working."""
    rotated = await service.rotate_refresh(
        session, body.refresh_token, now=request.app.state.clock()
    )
    if rotated is None:
        auth_event("refresh_refused")
        # Returned, not raised: revoking a session on a replayed token must commit.
        return refusal_response(
            LoginRefusal("invalid_token", "the refresh token is invalid, used or revoked", 401)
        )
    row, user, fresh = rotated
    auth_event("refresh_ok")
    return _token(request, settings, user, row, fresh)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(session: SessionDep, actor: Authorized) -> Response:
    """End this session: its access and refresh tokens stop working at once."""
    if actor.session_id:
        await service.revoke_session(session, actor.session_id, now=actor.at)
    auth_event("logout")
    return Response(status_code=status.HTTP_204_NO_CONTENT)

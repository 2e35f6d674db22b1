"""Typed dependencies: the request's session, settings, and the authenticated actor.

An actor is found from, in order: a bearer access token (API), an ``X-API-Key`` (devices and
integrations), or the page session cookie (browsers; state-changing requests must also carry the
session's CSRF token in ``X-CSRF-Token``).
"""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, OAuth2PasswordBearer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import HTTPConnection

from routeboard.apikeys.service import verify_api_key
from routeboard.auth.service import find_session
from routeboard.auth.tokens import read_token
from routeboard.availability.cache import forget_touched, refresh
from routeboard.config import Settings
from routeboard.errors import Forbidden, NotAuthenticated
from routeboard.events.service import Broadcaster, discard_pending, take_committed
from routeboard.models import AuthSession, User
from routeboard.schedule.service import Planner

ROLES = ("admin", "dispatcher", "technician", "customer", "device", "integration")
SESSION_COOKIE = "rb_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One request, one transaction: commit before the response is sent, then broadcast."""
    maker = request.app.state.sessionmaker
    broadcaster: Broadcaster = request.app.state.broadcaster
    async with maker() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            discard_pending(session)
            forget_touched(session)
            await session.rollback()
            raise
        # Hand the events over before any other await (closing the session is one): another
        # request committing a higher id must not reach the streams first.
        events = take_committed(session)
        if events:
            await broadcaster.publish(events)
        await refresh(session, request.app.state.state_cache)


def get_planner(request: Request) -> Planner:
    planner: Planner = request.app.state.planner
    return planner


SettingsDep = Annotated[Settings, Depends(get_settings)]
PlannerDep = Annotated[Planner, Depends(get_planner)]
# scope="function": the commit happens before the response, so a failed commit is a 500,
# not a 200 for data that was never stored.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]

_bearer = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False)


@dataclass(frozen=True)
class Actor:
    """Who is acting, from where, and the instant the request is stamped with."""

    user_id: int | None
    username: str
    role: str
    technician_id: int | None
    customer_id: int | None
    client_addr: str | None
    user_agent: str | None
    at: datetime
    session_id: str | None = None
    api_key_id: int | None = None
    # Set when the action happened earlier than it reached us (sent from a phone's offline
    # queue): ``at`` is then when it happened, and this when it arrived.
    received_at: datetime | None = None

    @property
    def is_staff(self) -> bool:
        return self.role in ("admin", "dispatcher")


def system_actor(name: str, *, at: datetime) -> Actor:
    """Routeboard itself acting (a webhook, a sweep, the installer), at the clock's ``at``."""
    return Actor(None, name, "system", None, None, None, None, at)


def client_of(request: HTTPConnection) -> tuple[str | None, str | None]:
    addr = request.client.host if request.client else None
    agent = (request.headers.get("user-agent") or "")[:300] or None
    return addr, agent


def _user_actor(request: HTTPConnection, user: User, now: datetime, sid: str | None) -> Actor:
    addr, agent = client_of(request)
    return Actor(
        user_id=user.id,
        username=user.username,
        role=user.role,
        technician_id=user.technician_id,
        customer_id=user.customer_id,
        client_addr=addr,
        user_agent=agent,
        at=now,
        session_id=sid,
    )


async def actor_from_bearer(
    request: HTTPConnection, session: AsyncSession, token: str, now: datetime
) -> Actor:
    claims = read_token(request.app.state.signing_key, token, now=now)
    if claims is None:
        raise NotAuthenticated("the token is invalid or expired", code="invalid_token")
    # One query for both rows: every API request pays for it.
    found = (
        await session.execute(
            select(User, AuthSession)
            .join(AuthSession, AuthSession.user_id == User.id)
            .where(User.id == int(claims["sub"]), AuthSession.id == (claims.get("sid") or ""))
        )
    ).first()
    user, live = found if found is not None else (None, None)
    if (
        user is None
        or not user.active
        or user.token_version != claims.get("ver")
        or live is None
        or live.revoked_at is not None
        or live.user_id != user.id
    ):
        raise NotAuthenticated("the token has been revoked", code="invalid_token")
    return _user_actor(request, user, now, live.id)


async def actor_from_api_key(
    request: Request, session: AsyncSession, value: str, now: datetime
) -> Actor:
    key = await verify_api_key(session, value, now=now)
    if key is None:
        raise NotAuthenticated("the API key is invalid or revoked", code="invalid_api_key")
    addr, agent = client_of(request)
    return Actor(
        user_id=None,
        username=f"key:{key.prefix}",
        role="device" if key.scope == "technician" else "integration",
        technician_id=key.technician_id,
        customer_id=None,
        client_addr=addr,
        user_agent=agent,
        at=now,
        api_key_id=key.id,
    )


async def actor_from_cookie(
    request: HTTPConnection, session: AsyncSession, cookie: str, now: datetime
) -> Actor | None:
    live = await find_session(session, cookie, kind="web", now=now)
    if live is None:
        return None
    user = await session.get(User, live.user_id)
    if user is None or not user.active:
        return None
    # A WebSocket handshake is a GET: SameSite cookies and the Origin check in
    # ``events.routes.same_site_origin`` guard it.
    if isinstance(request, Request) and request.method not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        kind = request.headers.get("content-type", "")
        if not sent and kind.startswith(("application/x-www-form-urlencoded", "multipart/")):
            # Plain HTML forms cannot set headers; they carry the token as a field.
            field = (await request.form()).get("csrf_token")
            sent = field if isinstance(field, str) else ""
        if not (live.csrf_token and hmac.compare_digest(sent, live.csrf_token)):
            raise Forbidden(
                f"state-changing requests from pages must carry the CSRF token ({CSRF_HEADER})",
                code="csrf_failed",
            )
    return _user_actor(request, user, now, live.id)


async def optional_actor(
    request: Request,
    session: SessionDep,
    token: Annotated[str | None, Depends(_bearer)],
    api_key: Annotated[str | None, Depends(_api_key)],
) -> Actor | None:
    """The caller if they identified themselves; None for an anonymous request."""
    now = request.app.state.clock()
    actor: Actor | None = None
    if token:
        actor = await actor_from_bearer(request, session, token, now)
    elif api_key:
        actor = await actor_from_api_key(request, session, api_key, now)
    elif cookie := request.cookies.get(SESSION_COOKIE):
        actor = await actor_from_cookie(request, session, cookie, now)
    request.state.actor = actor
    return actor


async def current_actor(actor: Annotated[Actor | None, Depends(optional_actor)]) -> Actor:
    if actor is None:
        raise NotAuthenticated("sign in: send 'Authorization: Bearer <token>'")
    return actor


CurrentActor = Annotated[Actor, Depends(current_actor)]
OptionalActor = Annotated[Actor | None, Depends(optional_actor)]

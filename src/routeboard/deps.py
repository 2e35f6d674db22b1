"""Typed dependencies: the request's session, settings, and the authenticated actor."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.ext.asyncio import AsyncSession

from routeboard.auth.tokens import read_token, utcnow
from routeboard.config import Settings
from routeboard.errors import Forbidden, NotAuthenticated
from routeboard.events.service import Broadcaster, discard_pending, take_committed
from routeboard.models import User

ROLES = ("admin", "dispatcher", "technician", "customer")


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
            await session.rollback()
            raise
        events = take_committed(session)
    if events:
        await broadcaster.publish(events)


SettingsDep = Annotated[Settings, Depends(get_settings)]
# scope="function": the commit happens before the response, so a failed commit is a 500,
# not a 200 for data that was never stored.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]

_bearer = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


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

    @property
    def is_staff(self) -> bool:
        return self.role in ("admin", "dispatcher")


def system_actor(name: str = "system") -> Actor:
    return Actor(None, name, "system", None, None, None, None, utcnow())


async def current_actor(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    token: Annotated[str | None, Depends(_bearer)],
) -> Actor:
    if not token:
        raise NotAuthenticated("sign in: send 'Authorization: Bearer <token>'")
    now = request.app.state.clock()
    claims = read_token(request.app.state.signing_key, token, now=now)
    if claims is None:
        raise NotAuthenticated("the token is invalid or expired", code="invalid_token")
    user = await session.get(User, int(claims["sub"]))
    if user is None or not user.active or user.token_version != claims.get("ver"):
        raise NotAuthenticated("the token has been revoked", code="invalid_token")
    return Actor(
        user_id=user.id,
        username=user.username,
        role=user.role,
        technician_id=user.technician_id,
        customer_id=user.customer_id,
        client_addr=request.client.host if request.client else None,
        user_agent=(request.headers.get("user-agent") or "")[:300] or None,
        at=now,
    )


CurrentActor = Annotated[Actor, Depends(current_actor)]


def require_roles(*roles: str) -> Callable[[Actor], Coroutine[Any, Any, Actor]]:
    unknown = set(roles) - set(ROLES)
    assert not unknown, unknown

    async def check(actor: CurrentActor) -> Actor:
        if actor.role not in roles:
            raise Forbidden(
                f"this needs one of the roles: {', '.join(roles)}",
                code="role_not_allowed",
                details={"role": actor.role, "allowed": list(roles)},
            )
        return actor

    check.roles = roles  # type: ignore[attr-defined]
    return check


AdminActor = Annotated[Actor, Depends(require_roles("admin"))]
StaffActor = Annotated[Actor, Depends(require_roles("admin", "dispatcher"))]
FieldActor = Annotated[Actor, Depends(require_roles("admin", "dispatcher", "technician"))]
AnyActor = Annotated[Actor, Depends(require_roles(*ROLES))]

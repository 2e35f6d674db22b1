"""Sign-in with lockout, sessions (API refresh tokens and page cookies), and their revocation."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from routeboard.auth.tokens import verify_password
from routeboard.config import Settings
from routeboard.metrics.service import auth_event
from routeboard.models import AuthSession, LoginThrottle, User


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class LoginRefusal:
    code: str
    message: str
    status: int
    retry_after_seconds: int | None = None


WRONG = LoginRefusal("invalid_credentials", "wrong username or password", 401)


async def attempt_login(
    session: AsyncSession, username: str, password: str, *, settings: Settings, now: datetime
) -> User | LoginRefusal:
    """Check a password, counting failures per username and locking it after too many.

    Refusals are returned, not raised, so the failure count commits with the request.
    The same answer and the same work are given whether or not the user exists.
    """
    name = username.strip().lower()[:80]
    throttle = await session.get(LoginThrottle, name, with_for_update=True)
    if throttle and throttle.locked_until and throttle.locked_until > now:
        wait = int((throttle.locked_until - now).total_seconds()) + 1
        auth_event("login_locked", username_len=len(name))
        return LoginRefusal(
            "account_locked",
            f"too many failed sign-ins; try again in {wait // 60 + 1} minutes",
            429,
            wait,
        )
    user = (await session.execute(select(User).where(User.username == name))).scalar_one_or_none()
    ok = verify_password(user.password_hash if user else None, password)
    if user is not None and ok and user.active:
        if throttle is not None:
            await session.delete(throttle)
        auth_event("login_ok", role=user.role)
        return user
    if throttle is None:
        throttle = LoginThrottle(username=name, failures=0)
        session.add(throttle)
    window = timedelta(minutes=settings.lockout_minutes)
    if throttle.first_failure_at is None or throttle.first_failure_at < now - window:
        throttle.failures, throttle.first_failure_at = 0, now
    throttle.failures += 1
    if throttle.failures >= settings.login_max_failures:
        throttle.locked_until = now + window
        throttle.failures, throttle.first_failure_at = 0, None
        auth_event("lockout")
    auth_event("login_failed")
    await session.flush()
    return WRONG


async def open_session(
    session: AsyncSession,
    user: User,
    *,
    kind: str,
    lifetime: timedelta,
    now: datetime,
    client_addr: str | None,
    user_agent: str | None,
) -> tuple[AuthSession, str]:
    """A new session and its bearer secret (``<id>.<secret>``), shown to the client once."""
    sid = secrets.token_urlsafe(32)
    secret = secrets.token_urlsafe(32)
    row = AuthSession(
        id=sid,
        user_id=user.id,
        kind=kind,
        secret_hash=digest(secret),
        csrf_token=secrets.token_urlsafe(32) if kind == "web" else None,
        created_at=now,
        expires_at=now + lifetime,
        client_addr=client_addr,
        user_agent=user_agent,
    )
    session.add(row)
    await session.flush()
    return row, f"{sid}.{secret}"


async def find_session(
    session: AsyncSession, token: str, *, kind: str, now: datetime
) -> AuthSession | None:
    """The live session ``token`` (``<id>.<secret>``) opens, or None."""
    sid, _, secret = token.partition(".")
    if not sid or not secret:
        return None
    row = await session.get(AuthSession, sid)
    if row is None or row.kind != kind or row.revoked_at is not None or row.expires_at <= now:
        return None
    if not hmac.compare_digest(row.secret_hash, digest(secret)):
        return None
    return row


async def rotate_refresh(
    session: AsyncSession, token: str, *, now: datetime
) -> tuple[AuthSession, User, str] | None:
    """Exchange a refresh token for a new one. Replaying a used token revokes the session:
    only a thief and the rightful client can both hold it."""
    sid, _, secret = token.partition(".")
    row = await session.get(AuthSession, sid, with_for_update=True) if sid else None
    if row is None or row.kind != "api" or row.revoked_at is not None or row.expires_at <= now:
        return None
    if not hmac.compare_digest(row.secret_hash, digest(secret)):
        row.revoked_at = now
        auth_event("refresh_reuse_revoked")
        await session.flush()
        return None
    user = await session.get(User, row.user_id)
    if user is None or not user.active:
        return None
    fresh = secrets.token_urlsafe(32)
    row.secret_hash = digest(fresh)
    row.last_used_at = now
    await session.flush()
    return row, user, f"{row.id}.{fresh}"


async def revoke_session(session: AsyncSession, sid: str, *, now: datetime) -> None:
    await session.execute(
        update(AuthSession)
        .where(AuthSession.id == sid, AuthSession.revoked_at.is_(None))
        .values(revoked_at=now)
    )


async def revoke_user_sessions(session: AsyncSession, user_id: int, *, now: datetime) -> None:
    """End every session of a user (password change, deactivation)."""
    await session.execute(
        update(AuthSession)
        .where(AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None))
        .values(revoked_at=now)
    )

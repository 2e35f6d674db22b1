"""Sign-in with lockout, sessions (API refresh tokens and page cookies), and their revocation."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from anyio import to_thread
from sqlalchemy import Table, and_, case, delete, literal, null, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from routeboard.auth.tokens import hashing_slots, verify_password
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

# ``login_throttle`` rows are keyed by a username (its failures from every address) or by "#"
# and digests of a username and an address (its failures from that address). A username cannot
# hold "#", and a typed name that cannot be a username is counted under INVALID_NAME, so no
# typed name can stand for another user's address row.
_USERNAME = re.compile(r"^[a-z0-9_.@-]{3,80}$")
INVALID_NAME = "?"
_THROTTLE = cast(Table, LoginThrottle.__table__)


def _address_prefix(name: str) -> str:
    return "#" + digest(name)[:32]


def _throttle_keys(name: str, client_addr: str | None) -> tuple[str, str]:
    """The keys counting ``name``'s failures from ``client_addr``, and from every address."""
    everywhere = name if _USERNAME.match(name) else INVALID_NAME
    return _address_prefix(name) + digest(client_addr or "")[:32], everywhere


def _engine(session: AsyncSession) -> AsyncEngine:
    bind = session.bind
    if not isinstance(bind, AsyncEngine):
        raise TypeError("sign-in counts failures on their own connection: bind to an engine")
    return bind


async def _reserve(
    conn: AsyncConnection, key: str, limit: int, *, now: datetime, window: timedelta
) -> int | None:
    """Count an attempt on ``key`` as failed before its password is checked (a success takes
    it back); the count, or None when ``key`` is locked.

    One statement decides and counts (concurrent ones on a row wait for each other), so
    concurrent attempts cannot all read "4 failures" and all be checked: the one that reaches
    ``limit`` also sets the lock.
    """
    if conn.dialect.name == "postgresql":
        await conn.execute(
            postgresql.insert(_THROTTLE).values(username=key, failures=0).on_conflict_do_nothing()
        )
    else:
        await conn.execute(
            sqlite.insert(_THROTTLE).values(username=key, failures=0).on_conflict_do_nothing()
        )
    t = _THROTTLE.c
    lock = literal(now + window, t.locked_until.type)
    restart = or_(
        t.first_failure_at.is_(None),
        t.first_failure_at < now - window,
        and_(t.locked_until.is_not(None), t.locked_until <= now),
    )
    unlocked = or_(t.failures < limit, t.locked_until.is_(None), t.locked_until <= now)
    counted: int | None = (
        await conn.execute(
            update(_THROTTLE)
            .where(t.username == key, unlocked)
            .values(
                failures=case((restart, 1), else_=t.failures + 1),
                first_failure_at=case(
                    (restart, literal(now, t.first_failure_at.type)), else_=t.first_failure_at
                ),
                locked_until=case(
                    (restart, lock if limit <= 1 else null()),
                    (t.failures + 1 >= limit, lock),
                    else_=null(),
                ),
            )
            .returning(t.failures)
        )
    ).scalar_one_or_none()
    return counted


async def _take_back(conn: AsyncConnection, key: str) -> None:
    """Uncount an attempt ``_reserve`` counted (below ``limit`` again, the lock no longer holds)."""
    t = _THROTTLE.c
    await conn.execute(
        update(_THROTTLE).where(t.username == key, t.failures > 0).values(failures=t.failures - 1)
    )


async def _signed_in_from(conn: AsyncConnection, name: str, client_addr: str | None) -> bool:
    if client_addr is None:
        return False
    found = await conn.execute(
        select(AuthSession.id)
        .join(User, User.id == AuthSession.user_id)
        .where(User.username == name, AuthSession.client_addr == client_addr)
        .limit(1)
    )
    return found.first() is not None


async def _locked(conn: AsyncConnection, key: str, name: str, now: datetime) -> LoginRefusal:
    t = _THROTTLE.c
    until = (
        await conn.execute(select(t.locked_until).where(t.username == key))
    ).scalar_one_or_none()
    wait = max(1, int((until - now).total_seconds()) + 1) if until is not None else 1
    auth_event("login_locked", username_len=len(name))
    return LoginRefusal(
        "account_locked",
        f"too many failed sign-ins; try again in {wait // 60 + 1} minutes",
        429,
        wait,
    )


async def attempt_login(
    session: AsyncSession,
    username: str,
    password: str,
    *,
    settings: Settings,
    now: datetime,
    client_addr: str | None,
) -> User | LoginRefusal:
    """Check a password, locking a username out of an address after too many failures from it.

    A stranger failing elsewhere therefore cannot lock a user out. Failures from every address
    together (a higher bar) lock the username only for addresses it has never signed in from.
    The counts commit in their own short transactions, before the password is checked and
    whatever becomes of the request, so the request's session must not have written yet (SQLite
    writers take turns per process). Refusals are returned, not raised. The same answer and the
    same work are given whether or not the user exists.
    """
    name = username.strip().lower()[:80]
    here_key, everywhere_key = _throttle_keys(name, client_addr)
    window = timedelta(minutes=settings.lockout_minutes)
    engine = _engine(session)
    async with engine.begin() as conn:
        here = await _reserve(conn, here_key, settings.login_max_failures, now=now, window=window)
        if here is None:
            return await _locked(conn, here_key, name, now)
        everywhere = await _reserve(
            conn, everywhere_key, settings.login_username_max_failures, now=now, window=window
        )
        if everywhere is None and not await _signed_in_from(conn, name, client_addr):
            await _take_back(conn, here_key)
            return await _locked(conn, everywhere_key, name, now)
    # Waiting for a slot before touching the session: queued sign-ins hold no connection.
    async with hashing_slots(settings.password_hash_concurrency):
        user = (
            await session.execute(select(User).where(User.username == name))
        ).scalar_one_or_none()
        ok = await to_thread.run_sync(
            verify_password, user.password_hash if user else None, password
        )
    if user is not None and ok and user.active:
        async with engine.begin() as conn:
            await conn.execute(delete(_THROTTLE).where(_THROTTLE.c.username == here_key))
            if everywhere is not None:
                await _take_back(conn, everywhere_key)
        auth_event("login_ok", role=user.role)
        return user
    if here >= settings.login_max_failures or everywhere == settings.login_username_max_failures:
        auth_event("lockout")
    auth_event("login_failed")
    return WRONG


async def unlock_sign_in(session: AsyncSession, username: str) -> None:
    """Lift every lock on ``username``: from each address, and from every address together."""
    name = username.strip().lower()[:80]
    await session.execute(
        delete(LoginThrottle).where(
            or_(
                LoginThrottle.username == name,
                LoginThrottle.username.startswith(_address_prefix(name)),
            )
        )
    )


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

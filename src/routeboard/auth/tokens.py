"""Password hashing (argon2id) and short-lived signed API tokens (JWT, HS256)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import jwt
from anyio import CapacityLimiter, to_thread
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
# Verifying against this when the user does not exist keeps response time from telling who exists.
_DUMMY_HASH = _hasher.hash("routeboard-not-a-user")
ALGORITHM = "HS256"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


# An argon2 hash is ~90 ms of CPU. On the event loop it stalls every other request, and in
# unbounded threads a sign-in flood takes every core; so it runs in a thread, a few at a time.
DEFAULT_HASHING_SLOTS = 1
_slots: tuple[asyncio.AbstractEventLoop, CapacityLimiter] | None = None


def hashing_slots(capacity: int | None = None) -> CapacityLimiter:
    """This event loop's bound on concurrent password hashing; ``capacity`` resizes it."""
    global _slots
    loop = asyncio.get_running_loop()
    if _slots is None or _slots[0] is not loop:
        _slots = (loop, CapacityLimiter(capacity or DEFAULT_HASHING_SLOTS))
    elif capacity is not None and _slots[1].total_tokens != capacity:
        _slots[1].total_tokens = capacity
    return _slots[1]


async def hash_password_off_loop(password: str) -> str:
    """``hash_password`` in a worker thread, within the hashing slots."""
    return await to_thread.run_sync(hash_password, password, limiter=hashing_slots())


def issue_token(
    key: str,
    *,
    user_id: int,
    role: str,
    token_version: int,
    session_id: str,
    minutes: int,
    now: datetime,
) -> str:
    claims: dict[str, Any] = {
        "sub": str(user_id),
        "sid": session_id,
        "role": role,
        "ver": token_version,
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(minutes=minutes)).timestamp()),
        "typ": "access",
    }
    return jwt.encode(claims, key, algorithm=ALGORITHM)


def read_token(key: str, token: str, *, now: datetime) -> dict[str, Any] | None:
    """The token's claims when its signature holds and it is live at ``now``, else None.

    Expiry is checked against the application's clock, not the library's, so the one clock
    that stamps the audit trail also decides what is expired.
    """
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            options={"require": ["exp", "iat", "sub"], "verify_exp": False, "verify_iat": False},
        )
    except jwt.PyJWTError:
        return None
    if claims.get("typ") != "access":
        return None
    stamp = now.timestamp()
    if not (claims["iat"] - 60 <= stamp < claims["exp"]):
        return None
    return claims


def issue_link_token(key: str, *, job_id: int, link_id: int, expires: datetime) -> str:
    """A customer link: signed (it cannot be forged or pointed at another job) and expiring."""
    claims = {"typ": "track", "jid": job_id, "lid": link_id, "exp": int(expires.timestamp())}
    return jwt.encode(claims, key, algorithm=ALGORITHM)


def read_link_token(key: str, token: str, *, now: datetime) -> tuple[int, int] | None:
    """(job id, link id) of a genuine, unexpired link; None otherwise."""
    try:
        claims = jwt.decode(
            token, key, algorithms=[ALGORITHM], options={"require": ["exp"], "verify_exp": False}
        )
    except jwt.PyJWTError:
        return None
    if claims.get("typ") != "track" or now.timestamp() >= claims["exp"]:
        return None
    job_id, link_id = claims.get("jid"), claims.get("lid")
    if not isinstance(job_id, int) or not isinstance(link_id, int):
        return None
    return job_id, link_id

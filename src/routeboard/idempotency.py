"""Changes a phone may send twice, and actions that reach us after they happened.

A technician's phone keeps what it could not send (no signal in a parking garage) and sends it
later, in order, each with an ``Idempotency-Key`` and the instant it happened
(``X-Occurred-At``). The first arrival is applied and its answer stored in the same
transaction; a repeat is answered from the store, never applied twice. See ADR 0013.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Annotated, TypeVar

from fastapi import Header, Response
from pydantic import AwareDatetime, BaseModel
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from routeboard.deps import Actor
from routeboard.errors import Conflict, InvalidInput
from routeboard.models import IdempotentRequest

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=8,
        max_length=100,
        pattern=r"^[A-Za-z0-9_.:-]+$",
        description="A client-chosen id for this change: repeating it never applies it twice",
    ),
]
OccurredAt = Annotated[
    AwareDatetime | None,
    Header(
        alias="X-Occurred-At",
        description="When the action happened, if earlier than now (sent from an offline queue)",
    ),
]
# A phone's clock may run a little ahead; an action older than this is not applied as if new.
CLOCK_SLACK = timedelta(minutes=2)
OLDEST = timedelta(hours=48)
# Kept well past OLDEST: a phone resending after that is refused as too late anyway.
KEEP_ANSWERS = timedelta(days=7)
REPLAYED = "Idempotent-Replayed"


def fingerprint(*parts: str | bytes) -> str:
    """What a request asked for: the same key with a different request is a client's mistake."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode() if isinstance(part, str) else part)
        digest.update(b"\0")
    return digest.hexdigest()


def _owner(actor: Actor) -> str:
    return f"user:{actor.user_id}" if actor.user_id is not None else f"key:{actor.api_key_id}"


async def replay(
    session: AsyncSession, actor: Actor, key: str | None, print_: str
) -> Response | None:
    """The stored answer if this key was used before by this caller, else None."""
    if key is None:
        return None
    done = (
        await session.execute(
            select(IdempotentRequest).where(
                IdempotentRequest.owner == _owner(actor), IdempotentRequest.key == key
            )
        )
    ).scalar_one_or_none()
    if done is None:
        return None
    if done.fingerprint != print_:
        raise Conflict(
            "this Idempotency-Key was used for a different request",
            code="idempotency_key_reused",
        )
    return Response(
        done.body,
        status_code=done.status_code,
        media_type="application/json",
        headers={REPLAYED: "true"},
    )


async def remember(
    session: AsyncSession,
    actor: Actor,
    key: str | None,
    print_: str,
    answer: BaseModel,
    *,
    status_code: int = 200,
) -> None:
    """Store the answer with the change it answers (same transaction)."""
    if key is None:
        return
    session.add(
        IdempotentRequest(
            owner=_owner(actor),
            key=key,
            fingerprint=print_,
            status_code=status_code,
            body=answer.model_dump_json(),
            created_at=actor.received_at or actor.at,
        )
    )
    await session.flush()


M = TypeVar("M", bound=BaseModel)


async def once(
    session: AsyncSession,
    actor: Actor,
    key: str | None,
    print_: str,
    apply: Callable[[], Awaitable[M]],
    *,
    status_code: int = 200,
) -> M | Response:
    """``apply`` the change and keep its answer under ``key``; a repeat gets the kept answer."""
    if (done := await replay(session, actor, key, print_)) is not None:
        return done
    answer = await apply()
    await remember(session, actor, key, print_, answer, status_code=status_code)
    return answer


async def prune_answers(session: AsyncSession, *, now: datetime) -> int:
    """Forget stored answers older than ``KEEP_ANSWERS``; returns how many went."""
    result = await session.execute(
        delete(IdempotentRequest).where(IdempotentRequest.created_at < now - KEEP_ANSWERS)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def as_of(actor: Actor, occurred_at: datetime | None) -> Actor:
    """The actor stamped with when the action happened, remembering when it arrived.

    Refused: an instant ahead of the server's clock (beyond a phone clock's drift), or older
    than two days (too stale to apply as the job's present).
    """
    if occurred_at is None:
        return actor
    now = actor.at
    if occurred_at > now + CLOCK_SLACK:
        raise InvalidInput(
            "X-Occurred-At is ahead of the server's clock",
            code="occurred_in_future",
            details={"server_time": now.isoformat()},
        )
    if occurred_at < now - OLDEST:
        raise InvalidInput(
            "X-Occurred-At is more than 48 hours old; ask the office to record it",
            code="occurred_too_long_ago",
        )
    return dataclasses.replace(actor, at=min(occurred_at, now), received_at=now)

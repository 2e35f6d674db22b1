"""API keys for devices and integrations: issued once, stored as hashes, scoped, revocable."""

from __future__ import annotations

import hmac
import secrets
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from routeboard.apikeys.schemas import ApiKeyCreate
from routeboard.auth.service import digest
from routeboard.errors import InvalidInput, NotFound
from routeboard.models import ApiKey, Technician
from routeboard.pagination import PageParams, paginate

if TYPE_CHECKING:
    from routeboard.deps import Actor

PREFIX = "rbk_"
# Writing last_used_at on every ping would turn each GPS report into an extra write.
LAST_USED_GRANULARITY = timedelta(minutes=1)


async def create_api_key(
    session: AsyncSession, data: ApiKeyCreate, *, actor: Actor
) -> tuple[ApiKey, str]:
    """A new key and its secret value; the value is never stored or shown again."""
    if data.technician_id is not None:
        tech = await session.get(Technician, data.technician_id)
        if tech is None or not tech.active:
            raise InvalidInput(
                f"technician {data.technician_id} does not exist or is inactive",
                code="unknown_technician",
            )
    ident = secrets.token_hex(6)
    value = f"{PREFIX}{ident}_{secrets.token_urlsafe(32)}"
    assert actor.user_id is not None
    key = ApiKey(
        name=data.name,
        prefix=f"{PREFIX}{ident}",
        key_hash=digest(value),
        scope=data.scope,
        technician_id=data.technician_id,
        created_by_id=actor.user_id,
        created_at=actor.at,
    )
    session.add(key)
    await session.flush()
    return key, value


async def verify_api_key(session: AsyncSession, value: str, *, now: datetime) -> ApiKey | None:
    """The live key ``value`` names, with its last use recorded; None for anything else."""
    prefix = value[: len(PREFIX) + 12]
    if not value.startswith(PREFIX) or len(value) < len(prefix) + 10:
        return None
    key = (
        await session.execute(select(ApiKey).where(ApiKey.prefix == prefix))
    ).scalar_one_or_none()
    if key is None or key.revoked_at is not None:
        return None
    if not hmac.compare_digest(key.key_hash, digest(value)):
        return None
    if key.last_used_at is None or key.last_used_at < now - LAST_USED_GRANULARITY:
        key.last_used_at = now
    return key


async def list_api_keys(session: AsyncSession, *, page: PageParams) -> tuple[list[ApiKey], int]:
    return await paginate(session, select(ApiKey).order_by(ApiKey.id), page)


async def revoke_api_key(session: AsyncSession, key_id: int, *, actor: Actor) -> ApiKey:
    key = await session.get(ApiKey, key_id)
    if key is None:
        raise NotFound(f"api key {key_id} not found", code="api_key_not_found")
    if key.revoked_at is None:
        key.revoked_at = actor.at
    await session.flush()
    return key

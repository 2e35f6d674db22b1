"""API key administration."""

from __future__ import annotations

from fastapi import APIRouter, status

from routeboard.access import Authorized
from routeboard.apikeys import service
from routeboard.apikeys.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyRead
from routeboard.db import Id
from routeboard.deps import SessionDep
from routeboard.pagination import Page, PageDep

router = APIRouter(prefix="/api/v1/api-keys", tags=["api keys"])


@router.post("", response_model=ApiKeyCreated, status_code=status.HTTP_201_CREATED)
async def create_api_key(
    body: ApiKeyCreate, session: SessionDep, actor: Authorized
) -> ApiKeyCreated:
    """Issue a key. Its value is in this response only: store it in the device now."""
    key, value = await service.create_api_key(session, body, actor=actor)
    return ApiKeyCreated(**ApiKeyRead.model_validate(key).model_dump(), key=value)


@router.get("", response_model=Page[ApiKeyRead])
async def list_api_keys(session: SessionDep, actor: Authorized, page: PageDep) -> Page[ApiKeyRead]:
    items, total = await service.list_api_keys(session, page=page)
    return Page[ApiKeyRead].of([ApiKeyRead.model_validate(k) for k in items], total, page)


@router.delete("/{key_id}", response_model=ApiKeyRead)
async def revoke_api_key(key_id: Id, session: SessionDep, actor: Authorized) -> ApiKeyRead:
    return ApiKeyRead.model_validate(await service.revoke_api_key(session, key_id, actor=actor))

"""Sign-in and user administration."""

from __future__ import annotations

from fastapi import APIRouter, status

from routeboard.access import Authorized
from routeboard.db import Id
from routeboard.deps import SessionDep
from routeboard.pagination import Page, PageDep
from routeboard.users import service
from routeboard.users.schemas import UserCreate, UserRead, UserUpdate

router = APIRouter(prefix="/api/v1", tags=["users"])


@router.get("/me", response_model=UserRead)
async def me(session: SessionDep, actor: Authorized) -> UserRead:
    assert actor.user_id is not None
    return UserRead.model_validate(await service.get_user(session, actor.user_id))


@router.post("/users", response_model=UserRead, status_code=status.HTTP_201_CREATED)
async def create_user(body: UserCreate, session: SessionDep, actor: Authorized) -> UserRead:
    return UserRead.model_validate(await service.create_user(session, body, actor=actor))


@router.get("/users", response_model=Page[UserRead])
async def list_users(session: SessionDep, actor: Authorized, page: PageDep) -> Page[UserRead]:
    items, total = await service.list_users(session, page=page)
    return Page[UserRead].of([UserRead.model_validate(u) for u in items], total, page)


@router.get("/users/{user_id}", response_model=UserRead)
async def read_user(user_id: Id, session: SessionDep, actor: Authorized) -> UserRead:
    return UserRead.model_validate(await service.get_user(session, user_id))


@router.patch("/users/{user_id}", response_model=UserRead)
async def update_user(
    user_id: Id, body: UserUpdate, session: SessionDep, actor: Authorized
) -> UserRead:
    return UserRead.model_validate(await service.update_user(session, user_id, body, actor=actor))


@router.delete("/users/{user_id}", response_model=UserRead)
async def deactivate_user(user_id: Id, session: SessionDep, actor: Authorized) -> UserRead:
    body = UserUpdate(active=False)
    return UserRead.model_validate(await service.update_user(session, user_id, body, actor=actor))

"""Sign-in and user administration."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, status
from fastapi.security import OAuth2PasswordRequestForm

from routeboard.auth.tokens import issue_token
from routeboard.deps import AdminActor, AnyActor, SessionDep, SettingsDep
from routeboard.pagination import Page, PageDep
from routeboard.users import service
from routeboard.users.schemas import Token, UserCreate, UserRead, UserUpdate

router = APIRouter(prefix="/api/v1", tags=["users"])


@router.post("/auth/token", response_model=Token)
async def token(
    request: Request,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    session: SessionDep,
    settings: SettingsDep,
) -> Token:
    """OAuth2 password flow: a short-lived bearer token for the API."""
    user = await service.authenticate(session, form.username, form.password)
    minutes = settings.access_token_minutes
    access = issue_token(
        request.app.state.signing_key,
        user_id=user.id,
        role=user.role,
        token_version=user.token_version,
        minutes=minutes,
        now=request.app.state.clock(),
    )
    return Token(access_token=access, expires_in=minutes * 60)


@router.get("/me", response_model=UserRead)
async def me(session: SessionDep, actor: AnyActor) -> UserRead:
    assert actor.user_id is not None
    return UserRead.model_validate(await service.get_user(session, actor.user_id))


@router.post("/users", response_model=UserRead, status_code=status.HTTP_201_CREATED)
async def create_user(body: UserCreate, session: SessionDep, actor: AdminActor) -> UserRead:
    return UserRead.model_validate(await service.create_user(session, body, actor=actor))


@router.get("/users", response_model=Page[UserRead])
async def list_users(session: SessionDep, actor: AdminActor, page: PageDep) -> Page[UserRead]:
    items, total = await service.list_users(session, page=page)
    return Page[UserRead](
        items=[UserRead.model_validate(u) for u in items],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


@router.get("/users/{user_id}", response_model=UserRead)
async def read_user(user_id: int, session: SessionDep, actor: AdminActor) -> UserRead:
    return UserRead.model_validate(await service.get_user(session, user_id))


@router.patch("/users/{user_id}", response_model=UserRead)
async def update_user(
    user_id: int, body: UserUpdate, session: SessionDep, actor: AdminActor
) -> UserRead:
    return UserRead.model_validate(await service.update_user(session, user_id, body, actor=actor))


@router.delete("/users/{user_id}", response_model=UserRead)
async def deactivate_user(user_id: int, session: SessionDep, actor: AdminActor) -> UserRead:
    body = UserUpdate(active=False)
    return UserRead.model_validate(await service.update_user(session, user_id, body, actor=actor))

"""Users and sign-in."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from routeboard.auth.tokens import hash_password, verify_password
from routeboard.deps import Actor
from routeboard.errors import Conflict, InvalidInput, NotAuthenticated, NotFound
from routeboard.models import Customer, Technician, User
from routeboard.pagination import PageParams, paginate
from routeboard.users.schemas import UserCreate, UserUpdate


async def create_user(session: AsyncSession, data: UserCreate, *, actor: Actor) -> User:
    taken = await session.execute(select(User.id).where(User.username == data.username))
    if taken.first() is not None:
        raise Conflict(f"username {data.username!r} is taken", code="username_taken")
    if data.technician_id is not None and await session.get(Technician, data.technician_id) is None:
        raise InvalidInput(
            f"technician {data.technician_id} does not exist", code="unknown_technician"
        )
    if data.customer_id is not None and await session.get(Customer, data.customer_id) is None:
        raise InvalidInput(f"customer {data.customer_id} does not exist", code="unknown_customer")
    user = User(
        username=data.username,
        password_hash=hash_password(data.password),
        role=data.role,
        technician_id=data.technician_id,
        customer_id=data.customer_id,
        created_at=actor.at,
    )
    session.add(user)
    await session.flush()
    return user


async def get_user(session: AsyncSession, user_id: int) -> User:
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound(f"user {user_id} not found", code="user_not_found")
    return user


async def update_user(
    session: AsyncSession, user_id: int, data: UserUpdate, *, actor: Actor
) -> User:
    """Change a password or (de)activate; either revokes the user's outstanding tokens."""
    user = await get_user(session, user_id)
    if data.active is False and user.id == actor.user_id:
        raise Conflict("you cannot deactivate yourself", code="self_deactivation")
    if data.password is not None:
        user.password_hash = hash_password(data.password)
        user.token_version += 1
    if data.active is not None and data.active != user.active:
        user.active = data.active
        user.token_version += 1
    await session.flush()
    return user


async def list_users(session: AsyncSession, *, page: PageParams) -> tuple[list[User], int]:
    return await paginate(session, select(User).order_by(User.username), page)


async def authenticate(session: AsyncSession, username: str, password: str) -> User:
    user = (
        await session.execute(select(User).where(User.username == username.strip().lower()))
    ).scalar_one_or_none()
    ok = verify_password(user.password_hash if user else None, password)
    if user is None or not ok or not user.active:
        raise NotAuthenticated("wrong username or password", code="invalid_credentials")
    return user

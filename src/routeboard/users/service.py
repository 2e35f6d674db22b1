"""Users and sign-in."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from routeboard.auth.service import revoke_user_sessions
from routeboard.auth.tokens import hash_password_off_loop
from routeboard.deps import Actor
from routeboard.errors import Conflict, InvalidInput, NotFound
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
        password_hash=await hash_password_off_loop(data.password),
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
    revoke = False
    if data.password is not None:
        user.password_hash = await hash_password_off_loop(data.password)
        revoke = True
    if data.active is not None and data.active != user.active:
        user.active = data.active
        revoke = True
    if revoke:
        user.token_version += 1
        await revoke_user_sessions(session, user.id, now=actor.at)
    await session.flush()
    return user


async def list_users(session: AsyncSession, *, page: PageParams) -> tuple[list[User], int]:
    return await paginate(session, select(User).order_by(User.username), page)

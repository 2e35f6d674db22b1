"""Branches: the shops of a multi-branch business; technicians and jobs belong to one."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from routeboard.branches.schemas import BranchCreate, BranchRead, BranchUpdate
from routeboard.deps import Actor
from routeboard.errors import Conflict, InvalidInput, NotFound
from routeboard.jobs.schemas import Site
from routeboard.models import Branch
from routeboard.pagination import PageParams, paginate


def read_model(b: Branch) -> BranchRead:
    return BranchRead(
        id=b.id,
        name=b.name,
        site=Site(address=b.address, lat=b.lat, lon=b.lon),
        radius_m=b.radius_m,
        active=b.active,
        created_at=b.created_at,
    )


async def _flush_named(session: AsyncSession, name: str) -> None:
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        raise Conflict(f"a branch named {name!r} exists", code="branch_exists") from None


async def create_branch(session: AsyncSession, data: BranchCreate, *, actor: Actor) -> Branch:
    branch = Branch(
        name=data.name,
        address=data.site.address,
        lat=data.site.lat,
        lon=data.site.lon,
        radius_m=data.radius_m,
        created_at=actor.at,
    )
    session.add(branch)
    await _flush_named(session, data.name)
    return branch


async def get_branch(session: AsyncSession, branch_id: int) -> Branch:
    branch = await session.get(Branch, branch_id)
    if branch is None:
        raise NotFound(f"branch {branch_id} not found", code="not_found")
    return branch


async def update_branch(
    session: AsyncSession, branch_id: int, data: BranchUpdate, *, actor: Actor
) -> Branch:
    branch = await get_branch(session, branch_id)
    if data.name is not None:
        branch.name = data.name
    if data.site is not None:
        branch.address, branch.lat, branch.lon = data.site.address, data.site.lat, data.site.lon
    if data.radius_m is not None:
        branch.radius_m = data.radius_m
    if data.active is not None:
        branch.active = data.active
    await _flush_named(session, branch.name)
    return branch


async def list_branches(
    session: AsyncSession, *, page: PageParams, active: bool | None = None
) -> tuple[list[Branch], int]:
    query = select(Branch).order_by(Branch.name, Branch.id)
    if active is not None:
        query = query.where(Branch.active == active)
    return await paginate(session, query, page)


async def check_branch(session: AsyncSession, branch_id: int | None) -> None:
    """A body naming a branch must name an active one (422 otherwise, not a foreign-key 500)."""
    if branch_id is None:
        return
    branch = await session.get(Branch, branch_id)
    if branch is None or not branch.active:
        raise InvalidInput(
            f"branch {branch_id} does not exist or is closed",
            code="unknown_branch",
            details={"branch_id": branch_id},
        )

"""Branch endpoints: admins open and edit shops; the office lists them (board filter)."""

from __future__ import annotations

from fastapi import APIRouter, status

from routeboard.access import Authorized
from routeboard.branches import service
from routeboard.branches.schemas import BranchCreate, BranchRead, BranchUpdate
from routeboard.db import Id
from routeboard.deps import SessionDep
from routeboard.pagination import Page, PageDep

router = APIRouter(prefix="/api/v1/branches", tags=["branches"])


@router.post("", response_model=BranchRead, status_code=status.HTTP_201_CREATED)
async def create_branch(body: BranchCreate, session: SessionDep, actor: Authorized) -> BranchRead:
    return service.read_model(await service.create_branch(session, body, actor=actor))


@router.get("", response_model=Page[BranchRead])
async def list_branches(
    session: SessionDep, actor: Authorized, page: PageDep, active: bool | None = None
) -> Page[BranchRead]:
    items, total = await service.list_branches(session, page=page, active=active)
    return Page[BranchRead].of([service.read_model(b) for b in items], total, page)


@router.patch("/{branch_id}", response_model=BranchRead)
async def update_branch(
    branch_id: Id, body: BranchUpdate, session: SessionDep, actor: Authorized
) -> BranchRead:
    return service.read_model(await service.update_branch(session, branch_id, body, actor=actor))

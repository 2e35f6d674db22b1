"""Offset pagination shared by every list endpoint."""

from __future__ import annotations

from typing import Annotated, Generic, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel
from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from routeboard.db import ID_MAX

T = TypeVar("T")
M = TypeVar("M")


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int

    @classmethod
    def of(cls, items: list[T], total: int, params: PageParams) -> Page[T]:
        return cls(items=items, total=total, limit=params.limit, offset=params.offset)


class PageParams(BaseModel):
    limit: int
    offset: int


def _page_params(
    limit: Annotated[int, Query(ge=1, le=200, description="Items per page")] = 50,
    offset: Annotated[int, Query(ge=0, le=ID_MAX, description="Items to skip")] = 0,
) -> PageParams:
    return PageParams(limit=limit, offset=offset)


PageDep = Annotated[PageParams, Depends(_page_params)]


async def paginate(
    session: AsyncSession, query: Select[M], page: PageParams
) -> tuple[list[M], int]:
    total = (await session.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
    rows = (await session.execute(query.limit(page.limit).offset(page.offset))).scalars().all()
    return list(rows), total

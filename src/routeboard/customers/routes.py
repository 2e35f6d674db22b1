"""Customer endpoints."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from routeboard.access import Authorized, access_customer
from routeboard.customers import service
from routeboard.customers.schemas import CustomerCreate, CustomerRead, CustomerUpdate
from routeboard.db import Id
from routeboard.deps import SessionDep
from routeboard.pagination import Page, PageDep

router = APIRouter(prefix="/api/v1/customers", tags=["customers"])


@router.post("", response_model=CustomerRead, status_code=status.HTTP_201_CREATED)
async def create_customer(
    body: CustomerCreate, session: SessionDep, actor: Authorized
) -> CustomerRead:
    return CustomerRead.model_validate(await service.create_customer(session, body, actor=actor))


@router.get("", response_model=Page[CustomerRead])
async def list_customers(
    session: SessionDep,
    actor: Authorized,
    page: PageDep,
    q: Annotated[str | None, Query(max_length=100, description="Name, phone or email")] = None,
) -> Page[CustomerRead]:
    items, total = await service.list_customers(session, page=page, search=q)
    return Page[CustomerRead].of([CustomerRead.model_validate(c) for c in items], total, page)


@router.get("/{customer_id}", response_model=CustomerRead)
async def read_customer(customer_id: Id, session: SessionDep, actor: Authorized) -> CustomerRead:
    return CustomerRead.model_validate(await access_customer(session, actor, customer_id))


@router.patch("/{customer_id}", response_model=CustomerRead)
async def update_customer(
    customer_id: Id, body: CustomerUpdate, session: SessionDep, actor: Authorized
) -> CustomerRead:
    customer = await service.update_customer(session, customer_id, body, actor=actor)
    return CustomerRead.model_validate(customer)


@router.delete("/{customer_id}", response_model=CustomerRead)
async def deactivate_customer(
    customer_id: Id, session: SessionDep, actor: Authorized
) -> CustomerRead:
    customer = await service.deactivate_customer(session, customer_id, actor=actor)
    return CustomerRead.model_validate(customer)

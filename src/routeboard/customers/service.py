"""Customer records."""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from routeboard.access import access_customer
from routeboard.customers.schemas import CustomerCreate, CustomerUpdate
from routeboard.deps import Actor
from routeboard.models import Customer
from routeboard.pagination import PageParams, paginate


async def create_customer(session: AsyncSession, data: CustomerCreate, *, actor: Actor) -> Customer:
    customer = Customer(
        name=data.name,
        phone=data.phone,
        email=str(data.email) if data.email else None,
        preferred_channel=data.preferred_channel,
        sms_consent=data.sms_consent,
        created_at=actor.at,
    )
    session.add(customer)
    await session.flush()
    return customer


async def update_customer(
    session: AsyncSession, customer_id: int, data: CustomerUpdate, *, actor: Actor
) -> Customer:
    customer = await access_customer(session, actor, customer_id)
    for name, value in data.model_dump(exclude_unset=True).items():
        setattr(customer, name, str(value) if name == "email" and value else value)
    await session.flush()
    return customer


async def deactivate_customer(session: AsyncSession, customer_id: int, *, actor: Actor) -> Customer:
    """Customers are kept (their jobs are evidence); deleting one deactivates it."""
    customer = await access_customer(session, actor, customer_id)
    customer.active = False
    await session.flush()
    return customer


async def list_customers(
    session: AsyncSession, *, page: PageParams, search: str | None = None
) -> tuple[list[Customer], int]:
    query = select(Customer).order_by(Customer.name, Customer.id)
    if search:
        like = f"%{search.lower()}%"
        query = query.where(
            or_(
                Customer.name.ilike(like),
                Customer.phone.ilike(like),
                Customer.email.ilike(like),
            )
        )
    return await paginate(session, query, page)

"""Queueing customer messages in the outbox, inside the transaction that causes them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from routeboard.models import Customer, Job, OutboxMessage


def pick_channel(customer: Customer) -> str | None:
    """The customer's preferred channel if we may use it, else the other one, else none."""
    usable = {
        "sms": bool(customer.phone) and customer.sms_consent,
        "email": bool(customer.email),
    }
    order = [
        customer.preferred_channel,
        *(c for c in ("sms", "email") if c != customer.preferred_channel),
    ]
    return next((c for c in order if usable.get(c)), None)


async def queue_message(
    session: AsyncSession, *, kind: str, job: Job, payload: dict[str, Any], at: datetime
) -> OutboxMessage:
    customer = await session.get(Customer, job.customer_id)
    assert customer is not None
    channel = pick_channel(customer)
    message = OutboxMessage(
        kind=kind,
        job_id=job.id,
        customer_id=customer.id,
        channel=channel or "none",
        # Kept, not dropped: the dispatcher sees who could not be reached.
        status="pending" if channel else "no_channel",
        payload=payload,
        created_at=at,
    )
    session.add(message)
    await session.flush()
    return message

"""Admin: the wording of customer messages, and the outbox with every attempt."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from routeboard.access import Authorized
from routeboard.db import Id
from routeboard.deps import SessionDep
from routeboard.notify import service
from routeboard.notify.schemas import OutboxRead, TemplateIn, TemplateRead
from routeboard.pagination import Page, PageDep

router = APIRouter(prefix="/api/v1", tags=["notifications"])


@router.get("/message-templates", response_model=list[TemplateRead])
async def list_templates(session: SessionDep, actor: Authorized) -> list[TemplateRead]:
    """Every message kind with its wording (the admin's, else the default), the variables it
    may use, and a preview for an example job."""
    return await service.list_templates(session)


@router.put("/message-templates/{kind}", response_model=TemplateRead)
async def save_template(
    kind: str, body: TemplateIn, session: SessionDep, actor: Authorized
) -> TemplateRead:
    """New wording (Jinja); refused with 422 ``template_invalid`` if it does not render or
    uses a variable the kind does not have."""
    return await service.save_template(session, kind, body, actor=actor)


@router.delete("/message-templates/{kind}", response_model=TemplateRead)
async def reset_template(kind: str, session: SessionDep, actor: Authorized) -> TemplateRead:
    """Back to the default wording."""
    return await service.reset_template(session, kind)


@router.get("/outbox", response_model=Page[OutboxRead])
async def list_outbox(
    session: SessionDep,
    actor: Authorized,
    page: PageDep,
    status: Annotated[
        Literal["pending", "sent", "failed", "no_channel", "skipped"] | None,
        Query(description="Only messages in this state"),
    ] = None,
    job_id: Annotated[Id | None, Query(description="Only this job's messages")] = None,
) -> Page[OutboxRead]:
    items, total = await service.list_outbox(session, page=page, status=status, job_id=job_id)
    return Page[OutboxRead].of(items, total, page)

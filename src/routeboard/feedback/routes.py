"""Feedback: the admin's summary and list of customer ratings, staff pulse, feature polls.
(Customers answer through their tracking link: ``tracking/routes.py``.)"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, status

from routeboard.access import Authorized
from routeboard.db import Id
from routeboard.deps import SessionDep, SettingsDep
from routeboard.errors import InvalidInput
from routeboard.feedback import service
from routeboard.feedback.schemas import (
    FeedbackItem,
    FeedbackSummary,
    PollIn,
    PollRead,
    PollUpdate,
    PulseIn,
    PulseRead,
    PulseToday,
    VoteIn,
)
from routeboard.jobs.schemas import YEARS
from routeboard.pagination import Page, PageDep

router = APIRouter(prefix="/api/v1", tags=["feedback"])
WEEKS = 12


def default_range(today: date, since: date | None, until: date | None) -> tuple[date, date]:
    for given in (since, until):
        if given is not None and given.year not in YEARS:
            raise InvalidInput(
                f"dates must fall in {YEARS.start}-{YEARS.stop - 1}", code="bad_range",
                details={"since": since and str(since), "until": until and str(until)},
            )  # fmt: skip
    until = until or today
    return since or until - timedelta(weeks=WEEKS) + timedelta(days=1), until


@router.get("/feedback/summary", response_model=FeedbackSummary)
async def feedback_summary(
    session: SessionDep,
    settings: SettingsDep,
    actor: Authorized,
    since: Annotated[date | None, Query(description="First day (default: 12 weeks ago)")] = None,
    until: Annotated[date | None, Query(description="Last day (default: today)")] = None,
) -> FeedbackSummary:
    """Response rate, average rating by technician and by week, comment sentiment (VADER),
    how ratings move with lateness and with message delays, and the staff pulse."""
    first, last = default_range(actor.at.astimezone(settings.tz).date(), since, until)
    summary, _, _ = await service.summarize(session, since=first, until=last, tz=settings.tz)
    return summary


@router.get("/feedback", response_model=Page[FeedbackItem])
async def list_feedback(
    session: SessionDep, actor: Authorized, page: PageDep
) -> Page[FeedbackItem]:
    """Customer ratings, newest first, with comment sentiment and the job's lateness."""
    items, total = await service.list_feedback(session, page=page)
    return Page[FeedbackItem].of(items, total, page)


@router.get("/pulse/today", response_model=PulseToday)
async def pulse_today(session: SessionDep, settings: SettingsDep, actor: Authorized) -> PulseToday:
    """Today's staff question and the caller's answer so far."""
    return await service.pulse_today(session, actor=actor, tz=settings.tz)


@router.post("/pulse", response_model=PulseRead)
async def answer_pulse(
    body: PulseIn, session: SessionDep, settings: SettingsDep, actor: Authorized
) -> PulseRead:
    """Answer today's question (1-5); answering again the same day changes the answer."""
    return await service.answer_pulse(session, body, actor=actor, tz=settings.tz)


@router.get("/polls", response_model=Page[PollRead])
async def list_polls(
    session: SessionDep,
    actor: Authorized,
    page: PageDep,
    open_only: Annotated[bool, Query(alias="open", description="Only open polls")] = False,
) -> Page[PollRead]:
    items, total = await service.list_polls(session, actor=actor, page=page, open_only=open_only)
    return Page[PollRead].of(items, total, page)


@router.post("/polls", response_model=PollRead, status_code=status.HTTP_201_CREATED)
async def create_poll(body: PollIn, session: SessionDep, actor: Authorized) -> PollRead:
    poll = await service.create_poll(session, body, actor=actor)
    return await service.poll_read(session, poll, actor=actor)


@router.get("/polls/{poll_id}", response_model=PollRead)
async def read_poll(poll_id: Id, session: SessionDep, actor: Authorized) -> PollRead:
    """The poll with its ranked results (Borda count) and the caller's own ranking."""
    return await service.get_poll(session, poll_id, actor=actor)


@router.patch("/polls/{poll_id}", response_model=PollRead)
async def update_poll(
    poll_id: Id, body: PollUpdate, session: SessionDep, actor: Authorized
) -> PollRead:
    """Close (or reopen) a poll."""
    return await service.update_poll(session, poll_id, body, actor=actor)


@router.put("/polls/{poll_id}/vote", response_model=PollRead)
async def vote(poll_id: Id, body: VoteIn, session: SessionDep, actor: Authorized) -> PollRead:
    """Rank the options (indexes, most wanted first); voting again replaces the ranking."""
    return await service.vote(session, poll_id, body, actor=actor)

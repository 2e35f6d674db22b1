"""Asking and listening: customers' ratings and arrival pulse, staff pulse, feature polls, and
the admin's summary of it all."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from routeboard.audit.service import append_audit
from routeboard.deps import Actor
from routeboard.errors import Conflict, InvalidInput, NotFound, TooMany
from routeboard.feedback import analysis
from routeboard.feedback.schemas import (
    PULSE_PROMPTS,
    FeedbackIn,
    FeedbackItem,
    FeedbackSummary,
    GroupRead,
    OptionResult,
    PollIn,
    PollRead,
    PollUpdate,
    PulseGroup,
    PulseIn,
    PulseRead,
    PulseToday,
    SurveyState,
    VoteIn,
)
from routeboard.models import (
    AuditEntry,
    Feedback,
    Job,
    OutboxMessage,
    Poll,
    PollVote,
    PulseAnswer,
    Technician,
)
from routeboard.pagination import PageParams, paginate

DONE = ("completed", "invoiced")
# Answers (and changes of answer) per job: the link is public and each one is audited.
MAX_ANSWERS = 20


def _arrived(job: Job) -> bool:
    return job.arrived_at is not None or job.state in ("in_progress", *DONE)


async def _answers(session: AsyncSession, job_id: int) -> dict[str, Feedback]:
    rows = await session.execute(select(Feedback).where(Feedback.job_id == job_id))
    return {f.kind: f for f in rows.scalars()}


async def survey_state(session: AsyncSession, job: Job) -> SurveyState:
    given = await _answers(session, job.id)
    rating, arrival = given.get("rating"), given.get("arrival")
    return SurveyState(
        rating_open=job.state in DONE,
        arrival_open=_arrived(job) and job.state != "cancelled",
        rating=rating.rating if rating else None,
        comment=rating.comment if rating else "",
        on_time=arrival.on_time if arrival else None,
    )


async def answer(session: AsyncSession, job_id: int, data: FeedbackIn, *, actor: Actor) -> Feedback:
    """Store the customer's answer (a second one replaces the first) and note it on the job's
    trail. Ratings are taken once the work is done, the arrival question once they arrived."""
    # populate_existing: the link's check loaded this job before the lock; the trail's head
    # and the state must be read again under it.
    job = (
        await session.execute(
            select(Job)
            .where(Job.id == job_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).scalar_one()
    if data.kind == "rating" and job.state not in DONE:
        raise Conflict(
            "the rating is asked once the work is done", code="job_not_done",
            details={"state": job.state},
        )  # fmt: skip
    if data.kind == "arrival" and not (_arrived(job) and job.state != "cancelled"):
        raise Conflict("the technician has not arrived yet", code="not_arrived")
    row = (await _answers(session, job.id)).get(data.kind)
    rating = data.rating if data.kind == "rating" else None
    on_time = data.on_time if data.kind == "arrival" else None
    if row is not None and (row.rating, row.on_time, row.comment) == (
        rating,
        on_time,
        data.comment,
    ):
        return row  # the same answer again (a double tap, a reload): nothing new to record
    changes = (
        await session.execute(
            select(func.count()).where(
                AuditEntry.job_id == job.id, AuditEntry.action.like("feedback.%")
            )
        )
    ).scalar_one()
    if changes >= MAX_ANSWERS:
        raise TooMany(
            "this job's answers can no longer be changed; call the shop",
            code="too_many_answers", details={"limit": MAX_ANSWERS},
        )  # fmt: skip
    if row is None:
        row = Feedback(job_id=job.id, kind=data.kind, created_at=actor.at)
        session.add(row)
    row.technician_id = job.technician_id
    row.rating, row.on_time = rating, on_time
    row.comment = data.comment
    row.sentiment = analysis.sentiment(data.comment)
    row.created_at = actor.at
    await append_audit(
        session, job, actor=actor, action=f"feedback.{data.kind}",
        from_state=job.state, to_state=job.state,
        data={"rating": row.rating, "on_time": row.on_time, "comment": row.comment[:200]},
    )  # fmt: skip
    await session.flush()
    return row


def _late_minutes(job: Job) -> float:
    arrived = job.arrived_at or job.labor_started_at
    promised = job.window_end or job.scheduled_start
    if arrived is None or promised is None:
        return 0.0
    return round(max(0.0, (arrived - promised).total_seconds() / 60), 1)


def _bounds(since: date, until: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    return (
        datetime.combine(since, time(0), tzinfo=tz),
        datetime.combine(until + timedelta(days=1), time(0), tzinfo=tz),
    )


async def list_feedback(
    session: AsyncSession, *, page: PageParams
) -> tuple[list[FeedbackItem], int]:
    query = select(Feedback).where(Feedback.kind == "rating").order_by(Feedback.id.desc())
    rows, total = await paginate(session, query, page)
    jobs = await _jobs(session, {f.job_id for f in rows})
    names = await _technician_names(session)
    items = [
        FeedbackItem(
            job_id=f.job_id, technician=names.get(f.technician_id or 0, ""),
            rating=f.rating or 0, comment=f.comment, sentiment=f.sentiment,
            mood=analysis.mood(f.sentiment), late_minutes=_late_minutes(jobs[f.job_id]),
            created_at=f.created_at,
        )
        for f in rows
    ]  # fmt: skip
    return items, total


async def _jobs(session: AsyncSession, ids: set[int]) -> dict[int, Job]:
    if not ids:
        return {}
    rows = await session.execute(select(Job).where(Job.id.in_(ids)))
    return {j.id: j for j in rows.scalars()}


async def _technician_names(session: AsyncSession) -> dict[int, str]:
    rows = await session.execute(select(Technician.id, Technician.name))
    return {i: n for i, n in rows.all()}


async def summarize(
    session: AsyncSession, *, since: date, until: date, tz: ZoneInfo
) -> tuple[FeedbackSummary, analysis.Summary, list[tuple[float, float]]]:
    """Response rate, ratings by technician and week, comment moods, and how ratings move with
    lateness and with the delay of the job's messages; plus the staff pulse. Also returns the
    analysis and the (lateness, rating) points for the page's charts."""
    if until < since:
        raise InvalidInput("'until' is before 'since'", code="bad_range")
    start, end = _bounds(since, until, tz)
    rated = list(
        (
            await session.execute(
                select(Feedback).where(
                    Feedback.kind == "rating", Feedback.created_at >= start,
                    Feedback.created_at < end,
                )
            )
        ).scalars()
    )  # fmt: skip
    jobs = await _jobs(session, {f.job_id for f in rated})
    names = await _technician_names(session)
    delays = await _notify_delays(session, set(jobs))
    answers = [
        analysis.Answer(
            job_id=f.job_id, technician=names.get(f.technician_id or 0, ""),
            day=(jobs[f.job_id].labor_ended_at or f.created_at).astimezone(tz).date(),
            rating=f.rating or 0, late_minutes=_late_minutes(jobs[f.job_id]),
            notify_delay_seconds=delays.get(f.job_id), sentiment=f.sentiment, comment=f.comment,
        )
        for f in rated
    ]  # fmt: skip
    asked = set(
        (
            await session.execute(
                select(OutboxMessage.job_id).where(
                    OutboxMessage.kind == "feedback_request", OutboxMessage.status == "sent",
                    OutboxMessage.sent_at >= start, OutboxMessage.sent_at < end,
                )
            )
        ).scalars()
    )  # fmt: skip
    requests = len(asked)
    # Of the customers asked in the period, how many rated (whenever they did): ratings given
    # unasked, from the page, count as responses but cannot push the rate past 100%.
    answered = (
        await session.execute(
            select(func.count(func.distinct(Feedback.job_id))).where(
                Feedback.kind == "rating", Feedback.job_id.in_(asked)
            )
        )
    ).scalar_one() if asked else 0  # fmt: skip
    on_time = [
        bool(v)
        for v in (
            await session.execute(
                select(Feedback.on_time).where(
                    Feedback.kind == "arrival", Feedback.created_at >= start,
                    Feedback.created_at < end,
                )
            )
        ).scalars()
    ]  # fmt: skip
    result = analysis.summarize(
        answers, requests=requests, on_time_answers=on_time, answered=answered
    )
    pulse = await _pulse_groups(session, since, until)
    summary = FeedbackSummary(
        since=since, until=until, requests=result.requests, responses=result.responses,
        response_rate=result.response_rate, average=result.average,
        by_technician=[GroupRead(**vars(g)) for g in result.by_technician],
        by_week=[GroupRead(**vars(g)) for g in result.by_week], moods=result.moods,
        rating_vs_lateness=result.rating_vs_lateness,
        rating_vs_notify_delay=result.rating_vs_notify_delay,
        arrival_on_time_rate=result.arrival_on_time_rate, pulse=pulse,
    )  # fmt: skip
    return summary, result, [(a.late_minutes, float(a.rating)) for a in answers]


async def _notify_delays(session: AsyncSession, job_ids: set[int]) -> dict[int, float]:
    """Per job, the mean wait between a message being queued and it going out."""
    if not job_ids:
        return {}
    rows = await session.execute(
        select(OutboxMessage.job_id, OutboxMessage.created_at, OutboxMessage.sent_at).where(
            OutboxMessage.job_id.in_(job_ids), OutboxMessage.sent_at.is_not(None),
            OutboxMessage.kind != "feedback_request",  # deliberately held back
        )
    )  # fmt: skip
    waits: dict[int, list[float]] = defaultdict(list)
    for job_id, queued, sent in rows.all():
        if job_id is not None and sent is not None:
            waits[job_id].append(max(0.0, (sent - queued).total_seconds()))
    return {j: sum(w) / len(w) for j, w in waits.items()}


async def _pulse_groups(session: AsyncSession, since: date, until: date) -> list[PulseGroup]:
    rows = await session.execute(
        select(PulseAnswer.role, func.count(), func.avg(PulseAnswer.score))
        .where(PulseAnswer.day >= since, PulseAnswer.day <= until)
        .group_by(PulseAnswer.role)
        .order_by(PulseAnswer.role)
    )
    return [
        PulseGroup(role=role, answers=n, average=round(float(avg), 2) if avg is not None else None)
        for role, n, avg in rows.all()
    ]


# Staff pulse ------------------------------------------------------------------------------


async def pulse_today(session: AsyncSession, *, actor: Actor, tz: ZoneInfo) -> PulseToday:
    day = actor.at.astimezone(tz).date()
    question = "schedule_realistic"
    row = await _pulse_row(session, actor, day, question)
    return PulseToday(
        day=day, question=question, prompt=PULSE_PROMPTS[question],
        answer=_pulse_read(row) if row else None,
    )  # fmt: skip


async def _pulse_row(
    session: AsyncSession, actor: Actor, day: date, question: str
) -> PulseAnswer | None:
    """This person's answer to ``question`` on ``day``, if they gave one."""
    found = await session.execute(
        select(PulseAnswer).where(
            PulseAnswer.user_id == actor.user_id, PulseAnswer.day == day,
            PulseAnswer.question == question,
        )
    )  # fmt: skip
    return found.scalar_one_or_none()


def _pulse_read(row: PulseAnswer) -> PulseRead:
    return PulseRead(day=row.day, question=row.question, score=row.score, comment=row.comment)


async def answer_pulse(
    session: AsyncSession, data: PulseIn, *, actor: Actor, tz: ZoneInfo
) -> PulseRead:
    """Today's answer for this person; answering again the same day changes it."""
    assert actor.user_id is not None
    day = actor.at.astimezone(tz).date()
    row = await _pulse_row(session, actor, day, data.question)
    if row is None:
        row = PulseAnswer(
            user_id=actor.user_id, day=day, question=data.question, created_at=actor.at
        )
        session.add(row)
    row.role, row.score, row.comment, row.created_at = (
        actor.role, data.score, data.comment, actor.at
    )  # fmt: skip
    await session.flush()
    return _pulse_read(row)


# Feature polls -------------------------------------------------------------------------------


def borda(options: Sequence[str], rankings: Sequence[Sequence[int]]) -> list[OptionResult]:
    """Ranked votes counted the Borda way: with n options, a first place earns n-1 points, a
    second n-2, and so on; unranked options earn nothing. Ties share a place."""
    n = len(options)
    points = [0] * n
    firsts = [0] * n
    for ranking in rankings:
        for place, index in enumerate(ranking):
            if 0 <= index < n:
                points[index] += n - 1 - place
        if ranking and 0 <= ranking[0] < n:
            firsts[ranking[0]] += 1
    order = sorted(range(n), key=lambda i: (-points[i], -firsts[i], i))
    out: list[OptionResult] = []
    for i in order:
        better = sum(1 for j in range(n) if (points[j], firsts[j]) > (points[i], firsts[i]))
        out.append(
            OptionResult(
                index=i, option=options[i], points=points[i], first_choices=firsts[i],
                place=better + 1,
            )
        )  # fmt: skip
    return out


async def create_poll(session: AsyncSession, data: PollIn, *, actor: Actor) -> Poll:
    poll = Poll(
        question=data.question, options=list(data.options), open=True,
        created_by_id=actor.user_id, created_at=actor.at,
    )  # fmt: skip
    session.add(poll)
    await session.flush()
    return poll


async def _poll(session: AsyncSession, poll_id: int, *, lock: bool = False) -> Poll:
    query = select(Poll).where(Poll.id == poll_id)
    poll = (await session.execute(query.with_for_update() if lock else query)).scalar_one_or_none()
    if poll is None:
        raise NotFound(f"poll {poll_id} not found", code="poll_not_found")
    return poll


async def poll_read(session: AsyncSession, poll: Poll, *, actor: Actor) -> PollRead:
    return (await _poll_reads(session, [poll], actor=actor))[0]


async def _poll_reads(
    session: AsyncSession, polls: Sequence[Poll], *, actor: Actor
) -> list[PollRead]:
    """The polls with their results and the caller's ranking, their votes read in one query."""
    votes: dict[int, list[PollVote]] = defaultdict(list)
    if polls:
        found = await session.execute(
            select(PollVote).where(PollVote.poll_id.in_([p.id for p in polls]))
        )
        for v in found.scalars():
            votes[v.poll_id].append(v)
    return [_poll_read(poll, votes[poll.id], actor) for poll in polls]


def _poll_read(poll: Poll, votes: Sequence[PollVote], actor: Actor) -> PollRead:
    mine = next((v.ranking for v in votes if v.user_id == actor.user_id), None)
    return PollRead(
        id=poll.id, question=poll.question, options=poll.options, open=poll.open,
        voters=len(votes), my_ranking=mine,
        results=borda(poll.options, [v.ranking for v in votes]), created_at=poll.created_at,
    )  # fmt: skip


async def list_polls(
    session: AsyncSession, *, actor: Actor, page: PageParams, open_only: bool
) -> tuple[list[PollRead], int]:
    query = select(Poll).order_by(Poll.id.desc())
    if open_only:
        query = query.where(Poll.open.is_(True))
    rows, total = await paginate(session, query, page)
    return await _poll_reads(session, rows, actor=actor), total


async def get_poll(session: AsyncSession, poll_id: int, *, actor: Actor) -> PollRead:
    return await poll_read(session, await _poll(session, poll_id), actor=actor)


async def update_poll(
    session: AsyncSession, poll_id: int, data: PollUpdate, *, actor: Actor
) -> PollRead:
    poll = await _poll(session, poll_id, lock=True)
    poll.open = data.open
    await session.flush()
    return await poll_read(session, poll, actor=actor)


async def vote(session: AsyncSession, poll_id: int, data: VoteIn, *, actor: Actor) -> PollRead:
    """Record (or replace) this person's ranking."""
    assert actor.user_id is not None
    poll = await _poll(session, poll_id, lock=True)
    if not poll.open:
        raise Conflict("this poll is closed", code="poll_closed")
    bad = [i for i in data.ranking if i >= len(poll.options)]
    if bad or len(set(data.ranking)) != len(data.ranking):
        raise InvalidInput(
            "rank each option at most once, by its index"
            f" (0 to {len(poll.options) - 1})",
            code="bad_ranking", details={"ranking": data.ranking},
        )  # fmt: skip
    mine = (
        await session.execute(
            select(PollVote).where(PollVote.poll_id == poll.id, PollVote.user_id == actor.user_id)
        )
    ).scalar_one_or_none()
    if mine is None:
        mine = PollVote(poll_id=poll.id, user_id=actor.user_id, created_at=actor.at)
        session.add(mine)
    mine.ranking, mine.created_at = list(data.ranking), actor.at
    await session.flush()
    return await poll_read(session, poll, actor=actor)

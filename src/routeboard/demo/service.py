"""Resetting the demo database and replaying one working day into it through the services.

Nothing is inserted behind the services' backs: every job is created, quoted, scheduled and
worked by the same functions the API calls, as the dispatcher or the technician who would have
done it, stamped at the simulated instant. So the board, the event log, the outbox and each job's
hash-chained audit trail are exactly what a real day would leave behind.
"""

from __future__ import annotations

import base64
import io
import shutil
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal, assert_never
from zoneinfo import ZoneInfo

import anyio.to_thread
from PIL import Image, ImageDraw
from sqlalchemy.ext.asyncio import AsyncSession

from routeboard.apikeys.service import PREFIX
from routeboard.auth.service import digest
from routeboard.clock import ShiftedClock
from routeboard.config import Settings
from routeboard.customers.service import create_customer
from routeboard.db import make_engine, make_sessionmaker
from routeboard.demo import data
from routeboard.demo.data import JobSeed
from routeboard.deps import Actor, system_actor
from routeboard.feedback.schemas import FeedbackIn, PollIn, PulseIn, VoteIn
from routeboard.feedback.service import answer, answer_pulse, create_poll, vote
from routeboard.jobs.schemas import (
    JobCreate,
    ScheduleRequest,
    Site,
    TransitionAction,
    TransitionRequest,
    Window,
)
from routeboard.jobs.service import create_job, schedule_job, transition_job
from routeboard.jobs.states import State
from routeboard.migrate import upgrade
from routeboard.models import ApiKey
from routeboard.photos.service import add_photo, add_signature
from routeboard.quotes.schemas import QuotePut
from routeboard.quotes.service import approve_quote, put_quote
from routeboard.schedule.service import Planner
from routeboard.technicians.service import create_technician
from routeboard.travel.service import EstimateProvider
from routeboard.users.schemas import UserCreate
from routeboard.users.service import create_user

DATABASE_FILES = ("routeboard.sqlite3", "routeboard.sqlite3-wal", "routeboard.sqlite3-shm")
# How far along the lifecycle each state is, to decide which steps a job has been through.
PROGRESS = (State.SCHEDULED, State.EN_ROUTE, State.IN_PROGRESS, State.COMPLETED, State.INVOICED)


def _wipe(settings: Settings) -> None:
    for name in DATABASE_FILES:
        (settings.data_dir / name).unlink(missing_ok=True)
    if settings.upload_dir.exists():
        shutil.rmtree(settings.upload_dir)
    settings.data_dir.mkdir(parents=True, exist_ok=True)


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def works_on(day: date) -> bool:
    """Whether every technician with a job on the demo board works on ``day``'s weekday."""
    on_board = {j.technician for j in data.JOBS if j.technician}
    key = WEEKDAYS[day.weekday()]
    return all(
        key in (t.working_hours or {}) for t in data.TECHNICIANS if _username(t.name) in on_board
    )


def demo_day(now: datetime, tz: ZoneInfo) -> date:
    """The working day nearest to ``now`` in the business zone: today on a working day, else the
    closer of the days either side (the day before when both are as close)."""
    today = now.astimezone(tz).date()
    for distance in range(8):
        for day in (today - timedelta(days=distance), today + timedelta(days=distance)):
            if works_on(day):
                return day
    raise ValueError("the demo technicians work no day of the week")


@dataclass(frozen=True)
class DemoDay:
    """The day the demo shows and the clock it runs on, told on the board."""

    day: date
    clock: ShiftedClock
    real_day: date

    @classmethod
    def near(cls, now: datetime, tz: ZoneInfo) -> DemoDay:
        """The demo day nearest ``now``, on a clock that starts at its ``data.DEMO_NOW``."""
        day = demo_day(now, tz)
        return cls(day, ShiftedClock(local(day, data.DEMO_NOW, tz)), now.astimezone(tz).date())

    def note(self) -> str:
        """What the board says about the day it shows."""
        shown = f"{self.day:%A} {self.day.day} {self.day:%B %Y}"
        if self.day == self.real_day:
            return f"Demo: {shown}, on a clock that started at {data.DEMO_NOW:%H:%M}."
        real = f"{self.real_day:%A} {self.real_day.day} {self.real_day:%B}"
        return (
            f"Demo: {shown}, the nearest working day to today ({real}), on a clock that started "
            f"at {data.DEMO_NOW:%H:%M}."
        )


async def reset_and_seed(settings: Settings, *, day: date) -> list[tuple[str, str, str]]:
    """Replace the demo database with a fresh simulated day; the (username, password, role) logins.

    The demo always shows the same shaped day on ``day``, pictured at ``data.DEMO_NOW``; serve it
    on ``DemoDay.clock`` so that the server's "now" is that moment of that day.
    """
    if settings.database_url:
        # Resetting means deleting files; never point that at a database someone else configured.
        raise ValueError("the demo only resets its own SQLite file in data_dir; unset database_url")
    steps = plan(day, settings.tz)
    await anyio.to_thread.run_sync(_wipe, settings)
    engine = make_engine(settings.effective_database_url)
    try:
        await upgrade(engine)
        async with make_sessionmaker(engine)() as session, session.begin():
            seeder = _Seeder(session, settings, day)
            await seeder.open_shop()
            for step in steps:
                await seeder.run(step)
            await seeder.voices()
    finally:
        await engine.dispose()
    return logins()


def logins() -> list[tuple[str, str, str]]:
    technicians = [
        (_username(t.name), data.TECHNICIAN_PASSWORD, "technician") for t in data.TECHNICIANS
    ]
    customers = [
        (j.login, data.CUSTOMER_PASSWORD, "customer") for j in data.JOBS if j.login is not None
    ]
    return [
        (*data.ADMIN_LOGIN, "admin"),
        (*data.DISPATCHER_LOGIN, "dispatcher"),
        *technicians,
        *customers,
    ]


def _username(name: str) -> str:
    return name.split()[0].lower()


# --- The plan: which step happens to which job, and when. Pure, so it can be checked alone. ---


StepKind = Literal[
    "create",
    "quote",
    "approve",
    "schedule",
    "cancel",
    "start_travel",
    "start_work",
    "photo_before",
    "photo_after",
    "signature",
    "complete",
    "invoice",
]


@dataclass(frozen=True, order=True)
class Step:
    at: datetime
    job: int  # index into data.JOBS
    seq: int  # order within the job, for steps stamped the same minute
    kind: StepKind


def local(day: date, clock: time, tz: ZoneInfo) -> datetime:
    """``clock`` on ``day`` in the business zone, as UTC, so that arithmetic is in real minutes."""
    return datetime.combine(day, clock, tzinfo=tz).astimezone(UTC)


def business_days_before(day: date, n: int) -> date:
    """``n`` weekdays earlier: customers book when the office answers the phone."""
    while n > 0:
        day -= timedelta(days=1)
        if day.weekday() < 5:
            n -= 1
    return day


def _minutes(n: int) -> timedelta:
    return timedelta(minutes=n)


def _job_steps(
    i: int, job: JobSeed, day: date, tz: ZoneInfo, previous: dict[int, int | None]
) -> list[Step]:
    booked = local(business_days_before(day, job.booked_days_ago), job.booked_at, tz)
    timeline: list[tuple[StepKind, datetime]] = [("create", booked)]
    if job.quote:
        timeline.append(("quote", booked + _minutes(12)))
        if job.quote_approved:
            # Insurers authorize glass claims within hours; cash customers say yes on the phone.
            wait = _minutes(150 if job.insurance else 25)
            timeline.append(("approve", booked + wait))
    if job.technician and job.start:
        timeline.append(("schedule", timeline[-1][1] + _minutes(15)))
    if job.state is State.CANCELLED:
        assert job.cancelled_at is not None
        timeline.append(("cancel", local(day, job.cancelled_at, tz)))
    reached = PROGRESS.index(job.state) if job.state in PROGRESS else -1
    if reached >= PROGRESS.index(State.EN_ROUTE):
        timeline.append(("start_travel", _sets_off(i, job, day, tz, previous[i])))
    if reached >= PROGRESS.index(State.IN_PROGRESS):
        arrived = _arrival(i, job, day, tz)
        timeline += [("start_work", arrived), ("photo_before", arrived + _minutes(3))]
    if reached >= PROGRESS.index(State.COMPLETED):
        done = _labour_end(i, job, day, tz)
        timeline += [
            ("photo_after", done - _minutes(8)),
            ("signature", done - _minutes(4)),
            ("complete", done),
        ]
    if reached >= PROGRESS.index(State.INVOICED):
        timeline.append(("invoice", _labour_end(i, job, day, tz) + _minutes(35)))
    return [Step(at, i, seq, kind) for seq, (kind, at) in enumerate(timeline)]


def _arrival_scatter(i: int) -> timedelta:
    # Real arrivals land a few minutes either side of the booked start; spread them by index.
    return _minutes((i * 7) % 11 - 4)


def _arrival(i: int, job: JobSeed, day: date, tz: ZoneInfo) -> datetime:
    assert job.start is not None
    return local(day, job.start, tz) + _arrival_scatter(i)


def _sets_off(i: int, job: JobSeed, day: date, tz: ZoneInfo, before: int | None) -> datetime:
    assert job.start is not None
    begin = local(day, job.start, tz)
    if before is None:
        # Half an hour from the shop to the first site, the van loaded the evening before.
        return begin - _minutes(30)
    # After packing up at the previous site, but nobody waits outside a customer's house long.
    packed_up = _labour_end(before, data.JOBS[before], day, tz) + _minutes(10)
    return max(packed_up, begin - _minutes(40))


def _labour_end(i: int, job: JobSeed, day: date, tz: ZoneInfo) -> datetime:
    return _arrival(i, job, day, tz) + _minutes(job.duration_minutes - 5)


def previous_on_day() -> dict[int, int | None]:
    """For each job on a technician's day, the job they come from (None: from the shop)."""
    lanes: dict[str, list[tuple[time, int]]] = {}
    for i, job in enumerate(data.JOBS):
        if job.technician and job.start is not None and job.state is not State.CANCELLED:
            lanes.setdefault(job.technician, []).append((job.start, i))
    previous: dict[int, int | None] = {}
    for lane in lanes.values():
        order = [i for _, i in sorted(lane)]
        previous.update(zip(order, [None, *order[:-1]], strict=True))
    return previous


def plan(day: date, tz: ZoneInfo) -> list[Step]:
    """Every step of the demo day in the order it happened, so ids and events run in time order."""
    previous = previous_on_day()
    steps = [s for i, job in enumerate(data.JOBS) for s in _job_steps(i, job, day, tz, previous)]
    now = local(day, data.DEMO_NOW, tz)
    late = [s for s in steps if s.at > now]
    if late:
        # A step after "now" would write the future into the audit trail: the data is wrong.
        raise ValueError(f"demo steps after {data.DEMO_NOW}: {late}")
    return sorted(steps)


# --- Running the plan through the services. ---


def photo_bytes(kind: str, caption: str) -> bytes:
    """A 320x240 JPEG standing in for a phone photo of the glass."""
    sky = (96, 110, 128) if kind == "before" else (120, 170, 215)
    img = Image.new("RGB", (320, 240), sky)
    draw = ImageDraw.Draw(img)
    draw.polygon([(40, 190), (280, 190), (250, 60), (70, 60)], fill=(150, 190, 220), outline=0)
    if kind == "before":
        draw.line([(120, 110), (160, 130), (150, 160), (210, 175)], fill=(250, 250, 250), width=2)
        draw.line([(160, 130), (200, 105)], fill=(250, 250, 250), width=2)
    draw.text((10, 8), f"{kind.upper()}  {caption}", fill=(255, 255, 255))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=80)
    return buf.getvalue()


def signature_png(name: str) -> str:
    """A signature as the phone's signature pad sends it: a base64 PNG data URL."""
    img = Image.new("RGB", (320, 120), "white")
    draw = ImageDraw.Draw(img)
    points = [(20 + x * 14, 70 + ((x * 37) % 23) - 11) for x in range(20)]
    draw.line(points, fill=(20, 30, 90), width=3)
    draw.line([(20, 100), (300, 100)], fill=(160, 160, 160), width=1)
    draw.text((20, 104), name, fill=(90, 90, 90))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _window(day: date, start: time, tz: ZoneInfo) -> Window:
    # Customers book a half-day arrival window; the dispatcher then picks the exact slot.
    if start < time(12):
        return Window(start=local(day, time(8), tz), end=local(day, time(12), tz))
    return Window(start=local(day, time(12), tz), end=local(day, time(17), tz))


class _Seeder:
    """Carries who is who (actors, ids) while the plan's steps run in one transaction."""

    def __init__(self, session: AsyncSession, settings: Settings, day: date) -> None:
        # The demo always books with the offline estimate: seeding must never wait on a network.
        self.planner = Planner(EstimateProvider(settings.tz), settings.tz)
        self.session = session
        self.settings = settings
        self.day = day
        self.staff: dict[str, Actor] = {}
        self.technicians: dict[str, Actor] = {}
        self.customers: dict[str, int] = {}
        self.jobs: dict[int, int] = {}
        self.previous = previous_on_day()

    async def open_shop(self) -> None:
        """The accounts and technicians, set up a few weeks before the demo day."""
        tz = self.settings.tz
        opened = local(business_days_before(self.day, 30), time(8), tz)
        # Someone has to create the first admin; that is the installer, not a user.
        installer = system_actor("demo-setup", at=opened)
        admin_name, admin_password = data.ADMIN_LOGIN
        admin = await self._user(installer, admin_name, admin_password, "admin")
        self.staff["admin"] = admin
        admin = replace(admin, at=opened + _minutes(20))
        dispatch_name, dispatch_password = data.DISPATCHER_LOGIN
        self.staff["dispatcher"] = await self._user(
            admin, dispatch_name, dispatch_password, "dispatcher"
        )
        for n, tech in enumerate(data.TECHNICIANS):
            row = await create_technician(self.session, tech, actor=admin)
            actor = await self._user(
                admin,
                _username(tech.name),
                data.TECHNICIAN_PASSWORD,
                "technician",
                technician_id=row.id,
            )
            self.technicians[actor.username] = replace(
                actor,
                client_addr=f"{data.PHONE_ADDR_PREFIX}{21 + n}",
                user_agent=data.PHONE_AGENT,
            )
            # The phone's GPS key; the simulator reports positions with it.
            value = data.device_key(actor.username)
            self.session.add(
                ApiKey(
                    name=f"{tech.name}'s phone", prefix=value[: len(PREFIX) + 12],
                    key_hash=digest(value), scope="technician", technician_id=row.id,
                    created_by_id=admin.user_id, created_at=admin.at,
                )
            )  # fmt: skip

    async def _user(
        self,
        actor: Actor,
        username: str,
        password: str,
        role: str,
        *,
        technician_id: int | None = None,
        customer_id: int | None = None,
    ) -> Actor:
        """Create a user and return them as an actor (at the office desk by default)."""
        body = UserCreate.model_validate(
            {
                "username": username,
                "password": password,
                "role": role,
                "technician_id": technician_id,
                "customer_id": customer_id,
            }
        )
        user = await create_user(self.session, body, actor=actor)
        return Actor(
            user_id=user.id,
            username=user.username,
            role=user.role,
            technician_id=user.technician_id,
            customer_id=user.customer_id,
            client_addr=data.OFFICE_ADDR,
            user_agent=data.OFFICE_AGENT,
            at=actor.at,
        )

    def _tech(self, job: JobSeed, at: datetime) -> Actor:
        assert job.technician is not None
        return replace(self.technicians[job.technician], at=at)

    def _staff(self, role: str, at: datetime) -> Actor:
        return replace(self.staff[role], at=at)

    def _where_from(self, i: int) -> Site:
        """Where the technician of job ``i`` is when they set off: the last site, or the shop."""
        before = self.previous[i]
        return data.SHOP if before is None else data.JOBS[before].site

    async def _move(
        self,
        i: int,
        action: TransitionAction,
        actor: Actor,
        *,
        where: Site | None = None,
        reason: str | None = None,
    ) -> None:
        # Phones send their position with each tap, which the audit trail keeps as evidence.
        body = TransitionRequest(
            action=action,
            reason=reason,
            lat=where.lat if where else None,
            lon=where.lon if where else None,
        )
        await transition_job(self.session, self.jobs[i], body, actor=actor, planner=self.planner)

    async def run(self, step: Step) -> None:
        i, job = step.job, data.JOBS[step.job]
        session, uploads = self.session, self.settings.upload_dir
        dispatcher = self._staff("dispatcher", step.at)
        match step.kind:
            case "create":
                self.jobs[i] = await self._create(job, dispatcher)
            case "quote":
                body = QuotePut(lines=list(job.quote), tax_rate=data.TEXAS_SALES_TAX)
                await put_quote(session, self.jobs[i], body, actor=dispatcher)
            case "approve":
                note = (
                    f"Authorized by {job.insurance.carrier}, claim {job.insurance.claim_number}"
                    if job.insurance
                    else "Customer approved by phone"
                )
                await approve_quote(session, self.jobs[i], actor=dispatcher, note=note)
            case "schedule":
                assert job.technician is not None
                assert job.start is not None
                slot = ScheduleRequest(
                    technician_id=self.technicians[job.technician].technician_id,
                    start=local(self.day, job.start, self.settings.tz),
                )
                await schedule_job(
                    session, self.jobs[i], slot, actor=dispatcher, planner=self.planner
                )
            case "cancel":
                await self._move(i, "cancel", dispatcher, reason=job.cancel_reason)
            case "start_travel":
                await self._move(
                    i, "start_travel", self._tech(job, step.at), where=self._where_from(i)
                )
            case "start_work":
                await self._move(i, "start_work", self._tech(job, step.at), where=job.site)
            case "photo_before" | "photo_after":
                kind = step.kind.removeprefix("photo_")
                caption = f"{job.vehicle.year} {job.vehicle.make} {job.vehicle.model}"
                await add_photo(
                    session,
                    self.jobs[i],
                    kind=kind,
                    content=photo_bytes(kind, caption),
                    upload_dir=uploads,
                    actor=self._tech(job, step.at),
                )
            case "signature":
                await add_signature(
                    session,
                    self.jobs[i],
                    signer_name=job.customer.name,
                    image_base64=signature_png(job.customer.name),
                    upload_dir=uploads,
                    actor=self._tech(job, step.at),
                )
            case "complete":
                await self._move(i, "complete", self._tech(job, step.at), where=job.site)
            case "invoice":
                await self._move(i, "invoice", dispatcher)
            case _:
                assert_never(step.kind)

    async def voices(self) -> None:
        """What customers and staff said about the day so far: ratings of the finished jobs,
        the technicians' pulse answers and their ranking of the feature poll."""
        tz = self.settings.tz
        now = local(self.day, data.DEMO_NOW, tz)
        done = [
            i for i, job in enumerate(data.JOBS) if job.state in (State.COMPLETED, State.INVOICED)
        ]
        for i, (rating, comment, on_time) in zip(done, data.RATINGS, strict=False):
            job = data.JOBS[i]
            at = min(_labour_end(i, job, self.day, tz) + _minutes(45), now)  # after the invoice
            customer = Actor(
                user_id=None, username=f"link:job-{self.jobs[i]}", role="customer",
                technician_id=None, customer_id=self.customers[job.customer.name],
                client_addr=data.PHONE_ADDR_PREFIX + "200", user_agent=data.PHONE_AGENT, at=at,
            )  # fmt: skip
            arrival = FeedbackIn(kind="arrival", on_time=on_time)
            await answer(self.session, self.jobs[i], arrival, actor=customer)
            given = FeedbackIn(kind="rating", rating=rating, comment=comment)
            await answer(self.session, self.jobs[i], given, actor=customer)
        admin = self._staff("admin", now - _minutes(240))
        poll = await create_poll(
            self.session, PollIn(question=data.POLL_QUESTION, options=list(data.POLL_OPTIONS)),
            actor=admin,
        )  # fmt: skip
        for name, (ranking, score) in data.STAFF_VOICE.items():
            tech = replace(self.technicians[name], at=now - _minutes(30))
            await vote(self.session, poll.id, VoteIn(ranking=list(ranking)), actor=tech)
            await answer_pulse(self.session, PulseIn(score=score), actor=tech, tz=tz)

    async def _create(self, job: JobSeed, dispatcher: Actor) -> int:
        """The customer (first call only), their login if they have one, then the job."""
        key = job.customer.name
        if key not in self.customers:
            customer = await create_customer(self.session, job.customer, actor=dispatcher)
            self.customers[key] = customer.id
            if job.login:
                admin = self._staff("admin", dispatcher.at)
                await self._user(
                    admin, job.login, data.CUSTOMER_PASSWORD, "customer", customer_id=customer.id
                )
        window = _window(self.day, job.start, self.settings.tz) if job.start else None
        body = JobCreate(
            customer_id=self.customers[key],
            service_type=job.service_type,
            site=job.site,
            duration_minutes=job.duration_minutes,
            window=window,
            vehicle=job.vehicle,
            insurance=job.insurance,
            notes=job.notes,
        )
        row = await create_job(self.session, body, actor=dispatcher)
        return row.id

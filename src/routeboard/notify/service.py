"""Queueing customer messages in the outbox, inside the transaction that causes them."""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import anyio
from jinja2 import Template, TemplateSyntaxError, meta, nodes
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment
from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from routeboard.auth.tokens import issue_link_token
from routeboard.config import Settings
from routeboard.deps import Actor, system_actor
from routeboard.errors import InvalidInput, NotFound
from routeboard.events.schemas import AlertRaised, EventRead, JobEta
from routeboard.events.service import record_event, take_committed
from routeboard.invoices.service import invoice_of, money, settlement
from routeboard.models import (
    Customer,
    Feedback,
    Job,
    MessageTemplate,
    OutboxAttempt,
    OutboxMessage,
    TrackingLink,
)
from routeboard.notify.channels import Channel, Message, Outcome
from routeboard.notify.schemas import AttemptRead, OutboxRead, TemplateIn, TemplateRead
from routeboard.pagination import PageParams, paginate
from routeboard.schedule.service import Planner, day_schedule

log = logging.getLogger(__name__)


def pick_channel(customer: Customer) -> str | None:
    """The customer's preferred channel if we may use it, else the other one, else none."""
    order = [
        customer.preferred_channel,
        *(c for c in ("sms", "email") if c != customer.preferred_channel),
    ]
    return next((c for c in order if _recipient(customer, c)), None)


async def queue_message(
    session: AsyncSession,
    *,
    kind: str,
    job: Job,
    payload: dict[str, Any],
    at: datetime,
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


# Per message kind: the subject (email) and the text. Jinja, sandboxed: admins will edit them.
TEMPLATES: dict[str, tuple[str, str]] = {
    "booking_confirmation": (
        "Your appointment with {{ shop }} is booked",
        "Hi {{ first_name }}, {{ shop }} has you booked for {{ window }}"
        "{% if technician %} with {{ technician }}{% endif %}. Follow your appointment: "
        "{{ tracking_url }}",
    ),
    "reschedule_notice": (
        "Your appointment with {{ shop }} has moved",
        "Hi {{ first_name }}, your appointment with {{ shop }} is now {{ window }}. "
        "Follow it here: {{ tracking_url }}",
    ),
    "cancellation_notice": (
        "Your appointment with {{ shop }} is cancelled",
        "Hi {{ first_name }}, your appointment with {{ shop }} has been cancelled. "
        "Call us to book again.",
    ),
    "on_my_way": (
        "{{ technician or 'Your technician' }} is on the way",
        "Hi {{ first_name }}, {{ technician or 'your technician' }} from {{ shop }} is on the "
        "way{% if eta %}, arriving around {{ eta }}{% endif %}. Track: {{ tracking_url }}",
    ),
    "running_late": (
        "{{ technician or 'Your technician' }} is running late",
        "Hi {{ first_name }}, sorry: {{ technician or 'your technician' }} from {{ shop }} is "
        "running late, about {{ late_minutes }} min past the time we gave you. New arrival "
        "time: around {{ eta }}. "
        "Track: {{ tracking_url }}",
    ),
    "arrived": (
        "{{ technician or 'Your technician' }} has arrived",
        "Hi {{ first_name }}, {{ technician or 'your technician' }} from {{ shop }} has "
        "arrived. Did we arrive on time? Tell us: {{ tracking_url }}",
    ),
    "job_completed": (
        "Your receipt from {{ shop }}",
        "Hi {{ first_name }}, the work on your {{ vehicle }} is done. Total {{ total }}"
        "{% if insurer_pays %}, your insurer pays {{ insurer_pays }}{% endif %}"
        "{% if balance %}, balance due {{ balance }}{% endif %}. Invoice: {{ invoice_url }}",
    ),
    "feedback_request": (
        "How did we do?",
        "Hi {{ first_name }}, how did {{ shop }} do today? One tap to rate us: "
        "{{ tracking_url }}#survey",
    ),
}
# What a template may use, per kind (shown to the admin editing it, and used to check it).
VARIABLES: dict[str, tuple[str, ...]] = {
    kind: ("shop", "first_name", "technician", "window", "eta", "tracking_url", "vehicle")
    for kind in TEMPLATES
}
VARIABLES["running_late"] += ("late_minutes",)
VARIABLES["job_completed"] += ("total", "insurer_pays", "paid", "balance", "invoice_url")
FALLBACK = {"sms": "email"}
MAX_ATTEMPTS = 5
MAX_LATE_NOTICES = 3  # per job


def render(
    kind: str, context: Mapping[str, Any], wording: tuple[str, str] | None = None
) -> tuple[str, str]:
    """Subject and text of a message, in the admin's ``wording`` if given, else the default."""
    subject, body = wording or TEMPLATES.get(
        kind, ("A message from {{ shop }}", "{{ shop }}: {{ kind }}")
    )
    return (
        _compiled(subject).render(context),
        _compiled(body).render(context),
    )


class _MessageSandbox(SandboxedEnvironment):
    """The sandbox, refusing products and powers whose result would be huge."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        sizes = [len(v) if isinstance(v, str | list | tuple) else abs(v) for v in (left, right)
                 if isinstance(v, str | list | tuple | int | float)]  # fmt: skip
        if operator == "**" and (abs(right) > 10 or abs(left) > _BIGGEST_NUMBER):
            raise SecurityError("powers are limited to small numbers")
        if operator == "*" and len(sizes) == 2 and sizes[0] * sizes[1] > 100_000:
            raise SecurityError("products are limited in size")
        return super().call_binop(context, operator, left, right)


_jinja = _MessageSandbox(autoescape=False)  # plain text, not HTML
_jinja.globals.clear()  # no range(), lipsum(), dict(), cycler(), joiner(), namespace()


@lru_cache(maxsize=256)
def _compiled(source: str) -> Template:
    # Compiling was a quarter of each send (bench/notify.py); the few wordings in use repeat.
    return _jinja.from_string(source)


def backoff(attempt: int, *, base: float = 30.0, cap: float = 3600.0, jitter: float) -> timedelta:
    """The wait before retry ``attempt`` (1, 2, ...): doubling from ``base`` up to ``cap``, and
    ``jitter`` (0..1) spreads it over its upper half so retries of one outage do not march in
    step."""
    ceiling = min(cap, base * 2 ** (attempt - 1))
    return timedelta(seconds=ceiling * (0.5 + jitter / 2))


def quiet_until(now: datetime, tz: ZoneInfo, spec: str) -> datetime | None:
    """When the quiet hours around ``now`` end (``"21:00-08:00"``, local), or None outside them."""
    if not spec:
        return None
    start, end = (time.fromisoformat(part) for part in spec.split("-"))
    local = now.astimezone(tz)
    clock = local.time()
    inside = start <= clock < end if start < end else clock >= start or clock < end
    if not inside:
        return None
    day = local.date() if clock < end else local.date() + timedelta(days=1)
    return datetime.combine(day, end, tzinfo=tz)


def render_stored(
    kind: str, context: Mapping[str, Any], stored: MessageTemplate | None
) -> tuple[str, str]:
    """In the admin's wording when there is one. Should it fail at send time (it was checked
    when saved, but the sandbox can still refuse an operation on real data), the default
    wording goes instead: the customer is told either way."""
    if stored is not None:
        try:
            return render(kind, context, (stored.subject, stored.body))
        except Exception:
            log.exception("the %s template failed; sending the default wording", kind)
    return render(kind, context)


async def _rated(session: AsyncSession, job_id: int | None) -> bool:
    found = await session.execute(
        select(Feedback.id).where(Feedback.job_id == job_id, Feedback.kind == "rating").limit(1)
    )
    return found.first() is not None


async def _receipt(session: AsyncSession, job: Job) -> dict[str, str]:
    invoice = await invoice_of(session, job.id)
    if invoice is None:
        return {}
    paid, balance = await settlement(session, invoice)
    return {
        "total": money(invoice.total_cents),
        "insurer_pays": money(invoice.insurer_share_cents) if invoice.insurer_share_cents else "",
        "paid": money(paid),
        "balance": money(balance),
    }


def _recipient(customer: Customer, channel: str) -> str | None:
    if channel == "sms":
        return customer.phone if customer.phone and customer.sms_consent else None
    if channel == "email":
        return customer.email or None
    return None


def _local(at: datetime | None, tz: ZoneInfo) -> str:
    return at.astimezone(tz).strftime("%a %b %-d, %-I:%M %p") if at else ""


class Worker:
    """Sends due messages from the outbox; several may run at once (in-process by default, or
    ``routeboard worker`` processes), each message claimed by one of them.

    A claim is a conditional UPDATE (only if unclaimed or its claim ran out), atomic on SQLite
    and PostgreSQL alike. Sending happens outside any transaction; the outcome is written after.
    A worker that dies mid-send leaves a claim that runs out: that message may go twice, never
    zero times.
    """

    def __init__(
        self,
        maker: async_sessionmaker[AsyncSession],
        channels: Mapping[str, Channel],
        settings: Settings,
        *,
        clock: Callable[[], datetime],
        key: str,
        name: str | None = None,
        lease: timedelta = timedelta(minutes=2),
        batch: int = 20,
        jitter: Callable[[], float] = random.random,
        publish: Callable[[Sequence[EventRead]], Awaitable[None]] | None = None,
    ) -> None:
        self.maker, self.channels, self.settings = maker, channels, settings
        self.clock, self.key, self.lease, self.batch = clock, key, lease, batch
        self.name = name or f"worker-{uuid.uuid4().hex[:12]}"
        self.jitter, self.publish = jitter, publish

    async def claim(self) -> list[int]:
        now = self.clock()
        async with self.maker() as session:
            due = await session.execute(
                select(OutboxMessage.id)
                .where(
                    OutboxMessage.status == "pending",
                    or_(
                        OutboxMessage.next_attempt_at.is_(None),
                        OutboxMessage.next_attempt_at <= now,
                    ),
                    or_(OutboxMessage.claimed_until.is_(None), OutboxMessage.claimed_until < now),
                )
                .order_by(OutboxMessage.id)
                .limit(self.batch)
            )
            mine = []
            for message_id in list(due.scalars()):
                taken = await session.execute(
                    update(OutboxMessage)
                    .where(
                        OutboxMessage.id == message_id,
                        OutboxMessage.status == "pending",
                        or_(
                            OutboxMessage.claimed_until.is_(None),
                            OutboxMessage.claimed_until < now,
                        ),
                    )
                    .values(claimed_by=self.name, claimed_until=now + self.lease)
                )
                if taken.rowcount == 1:  # type: ignore[attr-defined]
                    mine.append(message_id)
            await session.commit()
        return mine

    async def run_once(self) -> int:
        """Claim what is due and send it; returns how many were tried."""
        claimed = await self.claim()
        for message_id in claimed:
            try:
                await self.deliver(message_id)
            except Exception:  # one bad message must not stop the others
                log.exception("message %s could not be processed", message_id)
        return len(claimed)

    async def run(self, every: float = 2.0) -> None:
        while True:
            try:
                await self.run_once()
            except Exception:
                log.exception("outbox worker pass failed")
            await anyio.sleep(every)

    async def deliver(self, message_id: int) -> None:
        async with self.maker() as session:
            message = await session.get(OutboxMessage, message_id)
            if message is None or message.claimed_by != self.name:
                return
            customer = await session.get(Customer, message.customer_id)
            job = await session.get(Job, message.job_id) if message.job_id else None
            if customer is None:
                message.status, message.last_error = "failed", "the customer is gone"
                await session.commit()
                return
            if message.kind == "feedback_request" and await _rated(session, message.job_id):
                # They rated from the tracking page already: asking again would nag.
                message.status, message.last_error = "skipped", "already rated"
                message.claimed_by = message.claimed_until = None
                await session.commit()
                return
            if (wait := self._hold(message)) is not None:
                # Held, not tried (no attempt is spent).
                message.next_attempt_at, message.claimed_by, message.claimed_until = (
                    wait, None, None,
                )  # fmt: skip
                await session.commit()
                return
            to = _recipient(customer, message.channel)
            context = await self._context(session, message, customer, job)
            subject, body = render_stored(
                message.kind, context, await session.get(MessageTemplate, message.kind)
            )
            await session.commit()  # the tracking link minted for the text
        if to is None:
            outcome = Outcome(
                ok=False, error=f"no usable {message.channel} address", transient=False
            )
        else:
            channel = self.channels[message.channel]
            outcome = await channel.send(
                Message(channel=message.channel, to=to, subject=subject, body=body)  # type: ignore[arg-type]
            )
        await self._record(message_id, outcome)

    def _hold(self, message: OutboxMessage) -> datetime | None:
        """Until when a message must wait: the survey goes a while after the work ends, once
        the customer has seen it; nobody wants a text at 11 pm."""
        now = self.clock()
        if message.kind == "feedback_request":
            due = message.created_at + timedelta(minutes=self.settings.feedback_delay_minutes)
            if due > now:
                return due
        if message.channel == "sms":
            return quiet_until(now, self.settings.tz, self.settings.quiet_hours)
        return None

    async def _context(
        self, session: AsyncSession, message: OutboxMessage, customer: Customer, job: Job | None
    ) -> dict[str, Any]:
        tz = self.settings.tz
        payload = message.payload or {}
        context: dict[str, Any] = {
            "kind": message.kind,
            "shop": self.settings.shop_name,
            "first_name": customer.name.split()[0] if customer.name else "",
            "technician": payload.get("technician_first_name"),
            "tracking_url": "",
            "window": "",
            "eta": "",
            "vehicle": "",
        }
        if job is not None:
            v = job.vehicle
            context["vehicle"] = f"{v.year} {v.make} {v.model}"
            start = job.window_start or job.scheduled_start
            end = job.window_end or job.scheduled_end
            if start and end:
                context["window"] = (
                    f"{_local(start, tz)}–{end.astimezone(tz).strftime('%-I:%M %p')}"
                )
            told = payload.get("eta")
            eta = datetime.fromisoformat(told) if isinstance(told, str) else job.eta
            if eta:
                context["eta"] = eta.astimezone(tz).strftime("%-I:%M %p")
            context["late_minutes"] = payload.get("late_minutes", "")
            # One link per message, however many attempts and channels it takes.
            known = payload.get("tracking_link_id")
            link = await session.get(TrackingLink, known) if isinstance(known, int) else None
            if link is None:
                now = self.clock()
                link = TrackingLink(
                    job_id=job.id, created_by_id=None, created_at=now,
                    expires_at=now + timedelta(hours=self.settings.tracking_link_hours),
                )  # fmt: skip
                session.add(link)
                await session.flush()
                message.payload = {**payload, "tracking_link_id": link.id}
            token = issue_link_token(
                self.key, job_id=job.id, link_id=link.id, expires=link.expires_at
            )
            base = self.settings.public_url.rstrip("/")
            context["tracking_url"] = f"{base}/track/{token}"
            context["invoice_url"] = f"{base}/api/v1/track/{token}/invoice.pdf"
            if message.kind == "job_completed":
                context.update(await _receipt(session, job))
        return context

    async def _record(self, message_id: int, outcome: Outcome) -> None:
        now = self.clock()
        async with self.maker() as session:
            message = await session.get(OutboxMessage, message_id, with_for_update=True)
            if message is None or message.claimed_by != self.name:
                return  # our claim ran out and another worker has it now
            session.add(
                OutboxAttempt(
                    message_id=message.id, at=now, channel=message.channel, ok=outcome.ok,
                    transient=outcome.transient, error=outcome.error, worker=self.name,
                )
            )  # fmt: skip
            message.claimed_by = message.claimed_until = None
            if outcome.ok:
                message.status, message.sent_at, message.last_error = "sent", now, None
            else:
                message.attempts += 1
                message.last_error = outcome.error
                await self._after_failure(session, message, outcome, now)
            await session.commit()
            events = take_committed(session)
        if events and self.publish is not None:
            await self.publish(events)

    async def _after_failure(
        self, session: AsyncSession, message: OutboxMessage, outcome: Outcome, now: datetime
    ) -> None:
        """Retry with backoff while it may still work; then the customer's next channel; then
        tell the dispatcher."""
        if outcome.transient and message.attempts < MAX_ATTEMPTS:
            message.next_attempt_at = now + backoff(message.attempts, jitter=self.jitter())
            return
        customer = await session.get(Customer, message.customer_id)
        other = FALLBACK.get(message.channel)
        if customer is not None and other and _recipient(customer, other):
            message.channel, message.attempts, message.next_attempt_at = other, 0, now
            return
        message.status = "failed"
        job = await session.get(Job, message.job_id) if message.job_id else None
        text = f"could not send the {message.kind.replace('_', ' ')}: {outcome.error}"
        await record_event(
            session,
            AlertRaised(
                technician_id=job.technician_id if job else None, kind="message_failed",
                message=text[:500],
            ),
            at=now,
            job=job,
        )  # fmt: skip


async def notify_running_late(
    session: AsyncSession, *, planner: Planner, settings: Settings, now: datetime
) -> list[int]:
    """Tell each customer whose technician is now projected to miss their window (else their
    booked start) by more than ``late_notice_minutes``, with the new arrival time; returns the
    jobs told.

    Run every minute: overruns happen by time passing, with nobody tapping anything. A
    customer hears again only when the estimate moves by ``late_notice_change_minutes`` from
    what they were told. The marker is set by a conditional UPDATE, so several instances
    running this at once tell each customer once.
    """
    day = now.astimezone(planner.tz).date()
    actor = system_actor("lateness", at=now)
    schedule = await day_schedule(session, day, actor=actor, planner=planner)
    pending = [
        (item, tech.name)
        for tech in schedule.technicians
        for item in tech.jobs
        if item.state in ("scheduled", "en_route")
    ]
    jobs = {
        j.id: j
        for j in (
            await session.execute(select(Job).where(Job.id.in_([i.job_id for i, _ in pending])))
        ).scalars()
    }
    # Today's notices only: a job moved to another day starts again.
    midnight = datetime.combine(day, time(0), tzinfo=planner.tz)
    counts = await session.execute(
        select(OutboxMessage.job_id, func.count())
        .where(
            OutboxMessage.kind == "running_late",
            OutboxMessage.job_id.in_(list(jobs)),
            OutboxMessage.created_at >= midnight,
        )
        .group_by(OutboxMessage.job_id)
    )
    notices: dict[int | None, int] = {j: n for j, n in counts.all()}
    told: list[int] = []
    for item, name in pending:
        job = jobs[item.job_id]
        if job.arrived_at is not None or notices.get(job.id, 0) >= MAX_LATE_NOTICES:
            continue  # past a few updates, more texts only annoy: the tracking page stays live
        # Driving to them: the live estimate refines the day's projection, but one that went
        # stale (the phone lost its signal) must not hide a delay the projection sees.
        arrival = item.projected_arrival
        if job.state == "en_route" and job.eta is not None:
            arrival = max(job.eta, arrival)
        promised = job.window_end or job.scheduled_start
        if promised is None:
            continue
        late = (arrival - promised).total_seconds() / 60
        if late <= settings.late_notice_minutes:
            continue
        before = job.late_notice_eta
        moved = abs((arrival - before).total_seconds()) / 60 if before else None
        if moved is not None and moved < settings.late_notice_change_minutes:
            continue
        guard = Job.late_notice_eta.is_(None) if before is None else Job.late_notice_eta == before
        won = await session.execute(
            update(Job)
            .where(Job.id == job.id, guard)
            .values(late_notice_eta=arrival)
            .execution_options(synchronize_session=False)
        )
        if won.rowcount != 1:  # type: ignore[attr-defined]
            continue  # another instance told them just now
        job.late_notice_eta = arrival
        await queue_message(
            session, kind="running_late", job=job, at=now,
            payload={
                "technician_first_name": name.split()[0], "eta": arrival.isoformat(),
                # Past the promise, as the tracking page counts it.
                "late_minutes": round(late),
            },
        )  # fmt: skip
        await record_event(
            session,
            JobEta(
                technician_id=job.technician_id, eta=arrival,
                minutes=round(max(0.0, (arrival - now).total_seconds() / 60), 1),
                approximate=item.approximate, late_minutes=round(late, 1),
            ),
            at=now, job=job,
        )  # fmt: skip
        told.append(job.id)
    return told


# Admin: templates and the outbox -----------------------------------------------------------

SAMPLE: dict[str, Any] = {
    "kind": "", "shop": "Routeboard Auto Glass", "first_name": "Dana", "technician": "Marco",
    "window": "Tue Nov 24, 10:00 AM–12:00 PM", "eta": "10:42 AM", "vehicle": "2021 Toyota Camry",
    "tracking_url": "https://example.invalid/track/TOKEN", "late_minutes": 25,
    "total": "$412.50", "insurer_pays": "$312.50", "paid": "$100.00", "balance": "$0.00",
    "invoice_url": "https://example.invalid/api/v1/track/TOKEN/invoice.pdf",
}  # fmt: skip


def _read_template(kind: str, stored: MessageTemplate | None) -> TemplateRead:
    subject, body = (stored.subject, stored.body) if stored else TEMPLATES[kind]
    _, preview = render_stored(kind, {**SAMPLE, "kind": kind}, stored)
    return TemplateRead(
        kind=kind, subject=subject, body=body, customized=stored is not None,
        variables=list(VARIABLES[kind]), updated_at=stored.updated_at if stored else None,
        preview=preview,
    )  # fmt: skip


def _known_kind(kind: str) -> None:
    if kind not in TEMPLATES:
        raise NotFound(
            f"no message kind {kind!r}", code="template_not_found",
            details={"kinds": sorted(TEMPLATES)},
        )  # fmt: skip


# A message needs its variables, filters and if/else. Loops, macros, method calls and big
# numbers are how a template eats the server (nested loops, "x" * 10**10), so they are refused
# when saved, and the sandbox refuses big products and powers when rendered.
_FORBIDDEN_NODES = (nodes.For, nodes.Macro, nodes.CallBlock, nodes.Call)
_BIGGEST_NUMBER = 1000


def check_wording(kind: str, text: str) -> tuple[str | None, dict[str, Any]]:
    """Why an admin's wording cannot be used (and details), or (None, {})."""
    try:
        tree = _jinja.parse(text)
    except TemplateSyntaxError as exc:
        return f"is not a valid template: {exc.message} (line {exc.lineno})", {"line": exc.lineno}
    if any(True for _ in tree.find_all(_FORBIDDEN_NODES)):
        return "may use variables, filters and if/else, but no loops, macros or calls", {}
    numbers = [n.value for n in tree.find_all(nodes.Const) if isinstance(n.value, int | float)]
    if any(abs(v) > _BIGGEST_NUMBER for v in numbers):
        return f"uses a number above {_BIGGEST_NUMBER}", {}
    unknown = sorted(meta.find_undeclared_variables(tree) - {"kind", *VARIABLES[kind]})
    if unknown:
        return f"uses unknown variables: {', '.join(unknown)}", {
            "unknown": unknown, "variables": list(VARIABLES[kind]),
        }  # fmt: skip
    try:
        rendered = _compiled(text).render({**SAMPLE, "kind": kind})
    except Exception as exc:  # whatever the sandbox or the data raise, it is the wording's
        return f"does not render: {exc}", {}
    if len(rendered) > 2000:
        return "renders longer than 2,000 characters", {}
    return None, {}


async def list_templates(session: AsyncSession) -> list[TemplateRead]:
    stored = {t.kind: t for t in (await session.execute(select(MessageTemplate))).scalars()}
    return [_read_template(kind, stored.get(kind)) for kind in TEMPLATES]


async def save_template(
    session: AsyncSession, kind: str, data: TemplateIn, *, actor: Actor
) -> TemplateRead:
    """Replace the wording of one message kind, refused (naming the line) if it does not
    render: a broken template must fail here, in front of the admin, not at 7 am on a
    customer's phone."""
    _known_kind(kind)
    for part, text in (("subject", data.subject), ("body", data.body)):
        problem, details = check_wording(kind, text)
        if problem:
            raise InvalidInput(
                f"the {part} {problem}", code="template_invalid", details={"part": part, **details}
            )
    stored = await session.get(MessageTemplate, kind, with_for_update=True)
    if stored is None:
        stored = MessageTemplate(kind=kind, updated_at=actor.at)
        session.add(stored)
    stored.subject, stored.body = data.subject, data.body
    stored.updated_at, stored.updated_by_id = actor.at, actor.user_id
    await session.flush()
    return _read_template(kind, stored)


async def reset_template(session: AsyncSession, kind: str) -> TemplateRead:
    _known_kind(kind)
    await session.execute(delete(MessageTemplate).where(MessageTemplate.kind == kind))
    return _read_template(kind, None)


async def list_outbox(
    session: AsyncSession, *, page: PageParams, status: str | None, job_id: int | None
) -> tuple[list[OutboxRead], int]:
    """Newest first, each with its attempts: what was sent, what is waiting, what failed."""
    query = select(OutboxMessage).order_by(OutboxMessage.id.desc())
    if status is not None:
        query = query.where(OutboxMessage.status == status)
    if job_id is not None:
        query = query.where(OutboxMessage.job_id == job_id)
    rows, total = await paginate(session, query, page)
    attempts: dict[int, list[AttemptRead]] = {m.id: [] for m in rows}
    if rows:
        found = await session.execute(
            select(OutboxAttempt)
            .where(OutboxAttempt.message_id.in_(list(attempts)))
            .order_by(OutboxAttempt.id)
        )
        for a in found.scalars():
            attempts[a.message_id].append(
                AttemptRead(
                    at=a.at, channel=a.channel, ok=a.ok, transient=a.transient, error=a.error,
                    worker=a.worker,
                )
            )  # fmt: skip
    items = [
        OutboxRead(
            id=m.id, kind=m.kind, job_id=m.job_id, customer_id=m.customer_id, channel=m.channel,
            status=m.status, attempts=m.attempts, created_at=m.created_at,
            next_attempt_at=m.next_attempt_at, sent_at=m.sent_at, last_error=m.last_error,
            history=attempts[m.id],
        )
        for m in rows
    ]  # fmt: skip
    return items, total

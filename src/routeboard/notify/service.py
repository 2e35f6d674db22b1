"""Queueing customer messages in the outbox, inside the transaction that causes them."""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import anyio
from jinja2.sandbox import SandboxedEnvironment
from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from routeboard.auth.tokens import issue_link_token
from routeboard.config import Settings
from routeboard.events.schemas import AlertRaised, EventRead
from routeboard.events.service import record_event, take_committed
from routeboard.models import Customer, Job, OutboxAttempt, OutboxMessage, TrackingLink
from routeboard.notify.channels import Channel, Message, Outcome

log = logging.getLogger(__name__)


def pick_channel(customer: Customer) -> str | None:
    """The customer's preferred channel if we may use it, else the other one, else none."""
    order = [
        customer.preferred_channel,
        *(c for c in ("sms", "email") if c != customer.preferred_channel),
    ]
    return next((c for c in order if _recipient(customer, c)), None)


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
}
FALLBACK = {"sms": "email"}
MAX_ATTEMPTS = 5


def render(kind: str, context: Mapping[str, Any]) -> tuple[str, str]:
    subject, body = TEMPLATES.get(kind, ("A message from {{ shop }}", "{{ shop }}: {{ kind }}"))
    return (
        _jinja.from_string(subject).render(context),
        _jinja.from_string(body).render(context),
    )


_jinja = SandboxedEnvironment(autoescape=False)  # plain text, not HTML


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
            wait = quiet_until(self.clock(), self.settings.tz, self.settings.quiet_hours)
            if message.channel == "sms" and wait is not None:
                # Nobody wants a text at 11 pm: held, not tried (no attempt is spent).
                message.next_attempt_at, message.claimed_by, message.claimed_until = (
                    wait,
                    None,
                    None,
                )
                await session.commit()
                return
            to = _recipient(customer, message.channel)
            subject, body = render(
                message.kind, await self._context(session, message, customer, job)
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
        }
        if job is not None:
            start = job.window_start or job.scheduled_start
            end = job.window_end or job.scheduled_end
            if start and end:
                context["window"] = (
                    f"{_local(start, tz)}–{end.astimezone(tz).strftime('%-I:%M %p')}"
                )
            if job.eta:
                context["eta"] = job.eta.astimezone(tz).strftime("%-I:%M %p")
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
            context["tracking_url"] = f"{self.settings.public_url.rstrip('/')}/track/{token}"
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

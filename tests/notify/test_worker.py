"""The outbox worker: real SMTP on loopback, Twilio's API faked, retries, fallback, two workers."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from zoneinfo import ZoneInfo

import pytest

from routeboard.db import make_sessionmaker
from routeboard.notify.channels import AppriseChannel, Channel, MemoryChannel
from routeboard.notify.service import MAX_ATTEMPTS, Worker, backoff, quiet_until
from tests.conftest import JWT_KEY, Env
from tests.flows import START, to_state
from tests.notify.fake_twilio import FakeTwilio
from tests.notify.test_channels import (  # noqa: F401  (fixtures)
    TWILIO_URL,
    SmtpServer,
    _no_proxy,
    smtp,
    twilio,
)

pytestmark = pytest.mark.anyio


def worker(
    env: Env, channels: dict[str, Channel], name: str = "w1", *, quiet_hours: str = ""
) -> Worker:
    # The test clock starts at 06:00 in Dallas, inside the default quiet hours.
    settings = env.settings.model_copy(update={"quiet_hours": quiet_hours})
    return Worker(
        make_sessionmaker(env.engine), channels, settings, clock=env.clock, key=JWT_KEY,
        name=name, jitter=lambda: 1.0,
    )  # fmt: skip


async def drain(w: Worker, env: Env, *, rounds: int = 20) -> None:
    """Run the worker, moving the clock past each backoff, until nothing is due."""
    for _ in range(rounds):
        await w.run_once()
        env.clock.advance(hours=2)


async def attempts(env: Env) -> list[tuple[str, bool]]:
    rows = await env.sql("SELECT channel, ok FROM outbox_attempts ORDER BY id")
    return [(c, bool(ok)) for c, ok in rows]


async def test_a_booking_confirmation_email_arrives_with_its_tracking_link(
    env: Env,
    smtp: SmtpServer,  # noqa: F811
) -> None:
    await env.sql("UPDATE customers SET preferred_channel = 'email'")
    await to_state(env, "scheduled", start=START)
    channels: dict[str, Channel] = {
        "sms": MemoryChannel("sms"),
        "email": AppriseChannel("email", smtp.url(), timeout=5),
    }
    assert await worker(env, channels).run_once() == 1
    [envelope] = smtp.inbox.envelopes
    raw = envelope.content
    mail = message_from_bytes(raw if isinstance(raw, bytes) else str(raw).encode(), policy=default)
    assert isinstance(mail, EmailMessage)
    text = f"{mail['Subject']}\n{mail.get_content()}"
    assert "alice@example.com" in envelope.rcpt_tos
    assert "is booked" in text
    assert f"{env.settings.public_url}/track/" in text
    [(status, sent_at)] = await env.sql("SELECT status, sent_at FROM outbox")
    assert status == "sent" and sent_at is not None
    assert await attempts(env) == [("email", True)]


async def test_failing_sms_retries_with_backoff_then_falls_back_to_email(
    env: Env,
    twilio: FakeTwilio,  # noqa: F811
    smtp: SmtpServer,  # noqa: F811
) -> None:
    await to_state(env, "scheduled", start=START)
    twilio.fail_next(MAX_ATTEMPTS, status=503)
    channels: dict[str, Channel] = {
        "sms": AppriseChannel("sms", TWILIO_URL, api_base=twilio.url, timeout=5),
        "email": AppriseChannel("email", smtp.url(), timeout=5),
    }
    w = worker(env, channels)
    waits = []
    for _ in range(MAX_ATTEMPTS - 1):
        before = env.clock()
        assert await w.run_once() == 1
        [(next_at,)] = await env.sql("SELECT next_attempt_at FROM outbox")
        waits.append(str(next_at))
        assert await w.run_once() == 0  # not due yet: the backoff holds it
        env.clock.now = before + timedelta(hours=2)
    assert len(set(waits)) == MAX_ATTEMPTS - 1  # a new, later time after each failure
    await drain(w, env)
    assert await attempts(env) == [("sms", False)] * MAX_ATTEMPTS + [("email", True)]
    assert len(twilio.requests) == MAX_ATTEMPTS
    [(links,)] = await env.sql("SELECT count(*) FROM tracking_links")
    assert links == 1  # one link for the message, whatever it took to deliver
    [envelope] = smtp.inbox.envelopes
    assert "alice@example.com" in envelope.rcpt_tos
    errors = await env.sql("SELECT error FROM outbox_attempts WHERE ok = :f", f=False)
    assert all("503" in (e or "") for (e,) in errors)


def test_backoff_doubles_up_to_its_cap_with_jitter() -> None:
    assert [backoff(n, jitter=1.0).total_seconds() for n in (1, 2, 3)] == [30, 60, 120]
    assert backoff(20, jitter=1.0) == timedelta(hours=1)
    assert backoff(3, jitter=0.0).total_seconds() == 60  # the lower half of the window


async def test_two_workers_at_once_send_each_message_exactly_once(env: Env) -> None:
    for _ in range(6):
        await to_state(env, "scheduled")
    sms, email = MemoryChannel("sms"), MemoryChannel("email")
    channels: dict[str, Channel] = {"sms": sms, "email": email}
    one, two = worker(env, channels, "w1"), worker(env, channels, "w2")
    for _ in range(5):
        await asyncio.gather(one.run_once(), two.run_once())
    [(queued,)] = await env.sql("SELECT count(*) FROM outbox WHERE status = 'sent'")
    assert queued == 6
    assert len(sms.sent) == 6
    assert len({m.body for m in sms.sent}) == 6  # six messages, none twice
    workers = {w for (w,) in await env.sql("SELECT worker FROM outbox_attempts")}
    assert workers <= {"w1", "w2"}


async def test_no_channel_left_alerts_the_dispatcher(env: Env) -> None:
    await env.sql("UPDATE customers SET email = NULL")
    await to_state(env, "scheduled", start=START)
    sms = MemoryChannel("sms")
    sms.fail_next(1, error="21211 not a valid phone number", transient=False)
    await worker(env, {"sms": sms, "email": MemoryChannel("email")}).run_once()
    [(status,)] = await env.sql("SELECT status FROM outbox")
    assert status == "failed"
    [(payload,)] = await env.sql("SELECT payload FROM events WHERE type = 'alert.raised'")
    alert = payload if isinstance(payload, dict) else json.loads(payload)
    assert alert["kind"] == "message_failed" and "21211" in alert["message"]


async def test_no_text_in_quiet_hours(env: Env) -> None:
    await to_state(env, "scheduled", start=START)
    sms = MemoryChannel("sms")
    w = worker(env, {"sms": sms, "email": MemoryChannel("email")}, quiet_hours="21:00-08:00")
    env.clock.now = datetime(2026, 12, 2, 4, 30, tzinfo=UTC)  # 22:30 in Dallas
    await w.run_once()
    assert sms.attempts == [] and await attempts(env) == []
    [(held,)] = await env.sql("SELECT next_attempt_at FROM outbox")
    assert str(held).startswith("2026-12-02 14:00")  # 08:00 in Dallas
    env.clock.now = datetime(2026, 12, 2, 14, 1, tzinfo=UTC)
    await w.run_once()
    assert len(sms.sent) == 1


def test_quiet_hours_span_midnight() -> None:
    tz = ZoneInfo("America/Chicago")
    at = datetime(2026, 12, 2, 7, 0, tzinfo=tz)
    assert quiet_until(at, tz, "21:00-08:00") == datetime(2026, 12, 2, 8, 0, tzinfo=tz)
    assert quiet_until(at.replace(hour=12), tz, "21:00-08:00") is None
    assert quiet_until(at.replace(hour=12), tz, "") is None

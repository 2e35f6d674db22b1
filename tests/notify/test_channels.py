"""AppriseChannel against a local Twilio and a real SMTP server on loopback; the embedded and
in-memory channels; how failures are classified and that no credential leaks into error text.

Apprise builds the Twilio request and speaks SMTP itself, so these tests check the wire: what the
fake Twilio and aiosmtpd actually received.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from routeboard.notify.channels import (
    AppriseChannel,
    Channel,
    LogChannel,
    MemoryChannel,
    Message,
    Outcome,
    _diagnose,
    channels_from_settings,
    redact,
)
from tests.conftest import REQUIRE_SERVICES
from tests.notify.fake_twilio import FakeTwilio

pytestmark = [
    pytest.mark.anyio,
    # Apprise imports the standard imghdr module (for PGPy) when it first loads its plugins, and
    # on Python 3.11 that import warns; Apprise's own code, not avoidable from outside.
    pytest.mark.filterwarnings(
        r"ignore:'imghdr' is deprecated and slated for removal in Python 3\.13"
        r":DeprecationWarning:apprise\.utils\.pgp"
    ),
]

SID = "AC0123456789abcdef0123456789abcdef"
TOKEN = "f00dfeed0123456789abcdef01234567"
FROM = "+15005550006"
TWILIO_URL = f"twilio://{SID}:{TOKEN}@{FROM}"
SMTP_USER = "shop"
SMTP_PASSWORD = "hunter2-smtp-password"
SHOP = "dispatch@glassworks.example"
TRACKING = "https://glassworks.example/t/7Qm2xZ"
SECRETS = (SID, TOKEN, SMTP_PASSWORD)


def sms(to: str = "+12145550199", body: str = f"Marco is on the way: {TRACKING}") -> Message:
    return Message(channel="sms", to=to, subject="", body=body)


def mail(
    to: str = "alice+jobs@example.com", subject: str = "Your technician is on the way"
) -> Message:
    body = f"Hi Alice,\n\nMarco is 20 minutes away. Follow him here: {TRACKING}\n"
    return Message(channel="email", to=to, subject=subject, body=body)


def free_port() -> int:
    """A loopback port nothing listens on (for a short while, which is all a test needs)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    # Apprise's HTTP goes through requests, which honours proxy variables; 127.0.0.1 must not.
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def twilio() -> Iterator[FakeTwilio]:
    server = FakeTwilio(SID, TOKEN)
    yield server
    server.close()


def sms_channel(twilio: FakeTwilio, url: str = TWILIO_URL, **kwargs: Any) -> AppriseChannel:
    return AppriseChannel("sms", url, api_base=twilio.url, **{"timeout": 5.0, **kwargs})


# --- SMS through Twilio ------------------------------------------------------------------


async def test_sms_reaches_twilio_as_twilio_expects(twilio: FakeTwilio) -> None:
    outcome = await sms_channel(twilio).send(sms(to="+1 (214) 555-0199"))

    assert outcome == Outcome(ok=True, error=None, transient=False)
    [seen] = twilio.requests
    assert seen.method == "POST"
    assert seen.path == f"/2010-04-01/Accounts/{SID}/Messages.json"
    assert seen.auth == (SID, TOKEN)
    assert seen.headers["content-type"] == "application/x-www-form-urlencoded"
    # The body goes out whole: no subject folded in, no truncation at 160 characters.
    assert seen.form == {"To": "+12145550199", "From": FROM, "Body": sms().body}
    [created] = twilio.messages
    assert created["sid"].startswith("SM")
    assert created["status"] == "queued"


async def test_a_long_sms_is_sent_whole(twilio: FakeTwilio) -> None:
    body = " ".join(["Your windshield replacement is booked for Tuesday 9-11am."] * 5)
    outcome = await sms_channel(twilio).send(sms(body=body))

    assert outcome.ok
    assert twilio.requests[0].form["Body"] == body
    assert twilio.messages[0]["num_segments"] == "2"


@pytest.mark.parametrize("status", [429, 500, 503])
async def test_twilio_outage_is_transient(twilio: FakeTwilio, status: int) -> None:
    channel = sms_channel(twilio)
    twilio.fail_next(1, status)

    outcome = await channel.send(sms())

    assert not outcome.ok
    assert outcome.transient
    assert outcome.error is not None and f"HTTP {status}" in outcome.error
    assert twilio.messages == []
    # The outage is over: the same message goes through on the retry.
    assert await channel.send(sms()) == Outcome(ok=True, error=None, transient=False)


@pytest.mark.parametrize(
    ("to", "code", "text"),
    [
        ("+15005550001", "21211", "is not a valid phone number"),
        ("+15005550004", "21610", "unsubscribed recipient"),
    ],
)
async def test_twilio_refusing_the_number_is_permanent(
    twilio: FakeTwilio, to: str, code: str, text: str
) -> None:
    outcome = await sms_channel(twilio).send(sms(to=to))

    assert not outcome.ok
    assert not outcome.transient
    assert outcome.error is not None
    assert "HTTP 400" in outcome.error
    assert code in outcome.error
    assert text in outcome.error


async def test_bad_twilio_credentials_are_permanent_and_not_shown(twilio: FakeTwilio) -> None:
    wrong = "0badc0de0badc0de0badc0de0badc0de"
    outcome = await sms_channel(twilio, f"twilio://{SID}:{wrong}@{FROM}").send(sms())

    assert not outcome.ok
    assert not outcome.transient
    assert outcome.error is not None and "HTTP 401" in outcome.error
    assert wrong not in outcome.error
    assert SID not in outcome.error
    assert twilio.requests[0].auth == (SID, wrong)


async def test_twilio_unreachable_is_transient(twilio: FakeTwilio) -> None:
    channel = AppriseChannel("sms", TWILIO_URL, api_base=f"http://127.0.0.1:{free_port()}")

    outcome = await channel.send(sms())

    assert not outcome.ok
    assert outcome.transient
    assert outcome.error is not None and "Connection refused" in outcome.error
    assert SID not in outcome.error  # it is in the request path that requests quotes


async def test_slow_twilio_times_out_transient(twilio: FakeTwilio) -> None:
    twilio.delay = 2.0
    channel = sms_channel(twilio, timeout=0.3)
    started = time.monotonic()

    outcome = await channel.send(sms())

    assert time.monotonic() - started < 1.5
    assert not outcome.ok
    assert outcome.transient
    assert outcome.error is not None and "timed out" in outcome.error


async def test_a_malformed_number_is_refused_without_a_request(twilio: FakeTwilio) -> None:
    outcome = await sms_channel(twilio).send(sms(to="214-555-0199"))

    assert not outcome.ok
    assert not outcome.transient
    assert outcome.error is not None and "E.164" in outcome.error
    assert twilio.requests == []


async def test_the_event_loop_keeps_running_during_a_send(twilio: FakeTwilio) -> None:
    twilio.delay = 0.3
    channel = sms_channel(twilio)
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticker = asyncio.create_task(tick())
    outcome = await channel.send(sms())
    ticker.cancel()

    assert outcome.ok
    assert ticks >= 10


async def test_concurrent_sends_keep_their_own_errors(twilio: FakeTwilio) -> None:
    channel = sms_channel(twilio)
    numbers = ["+15005550001", "+12145550101", "+15005550004", "+12145550102"]

    outcomes = await asyncio.gather(*(channel.send(sms(to=n)) for n in numbers))

    assert [o.ok for o in outcomes] == [False, True, False, True]
    assert outcomes[0].error is not None and "21211" in outcomes[0].error
    assert "21610" not in outcomes[0].error
    assert outcomes[2].error is not None and "21610" in outcomes[2].error
    assert "21211" not in outcomes[2].error


# --- Email through SMTP ------------------------------------------------------------------


@dataclass
class Inbox:
    """An aiosmtpd handler keeping what arrives; addresses in ``refuse`` get a 550."""

    envelopes: list[Envelope] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)
    # Per envelope: whether the session had switched to TLS (STARTTLS) before the message.
    encrypted: list[bool] = field(default_factory=list)

    # aiosmtpd finds its hooks by these names.
    async def handle_RCPT(  # noqa: N802
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if address in self.refuse:
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(  # noqa: N802
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        self.envelopes.append(envelope)
        self.encrypted.append(session.ssl is not None)
        return "250 2.0.0 Ok: queued"


def authenticate(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: object
) -> AuthResult:
    good = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == SMTP_USER.encode()
        and auth_data.password == SMTP_PASSWORD.encode()
    )
    return AuthResult(success=good, handled=False)


@dataclass
class SmtpServer:
    inbox: Inbox
    port: int

    def url(self, user: str = SMTP_USER, password: str = SMTP_PASSWORD) -> str:
        return f"mailto://{user}:{password}@127.0.0.1:{self.port}?from={SHOP}&mode=insecure"


OPENSSL_SELF_SIGNED = (
    "req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1"
    " -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1"
)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A throwaway self-signed certificate for 127.0.0.1, as (certificate, key)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        reason = "the openssl command is needed to make a test certificate"
        if REQUIRE_SERVICES:
            pytest.fail(f"{reason} and ROUTEBOARD_REQUIRE_SERVICES=1")
        pytest.skip(reason)
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [openssl, *OPENSSL_SELF_SIGNED.split(), "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    return cert, key


def run_smtp(inbox: Inbox, tls: ssl.SSLContext | None = None) -> Iterator[SmtpServer]:
    # AUTH is offered before STARTTLS too: this is loopback, and the plain-text tests need it.
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=free_port(),
        authenticator=authenticate,
        auth_require_tls=False,
        tls_context=tls,
    )
    controller.start()
    try:
        yield SmtpServer(inbox, controller.port)
    finally:
        # Controller.stop() halts the loop but leaves the listening socket and the loop open.
        server, loop = controller.server, controller.loop
        if server is not None:

            async def close() -> None:
                server.close()
                await server.wait_closed()

            asyncio.run_coroutine_threadsafe(close(), loop).result(timeout=5)
        controller.stop()
        loop.close()


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    yield from run_smtp(Inbox())


@pytest.fixture
def smtp_starttls(certificate: tuple[Path, Path]) -> Iterator[SmtpServer]:
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(*certificate)
    yield from run_smtp(Inbox(), tls)


def parsed(envelope: Envelope) -> EmailMessage:
    assert isinstance(envelope.content, bytes)
    message = message_from_bytes(envelope.content, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


async def test_email_arrives_with_subject_recipient_and_body(smtp: SmtpServer) -> None:
    outcome = await AppriseChannel("email", smtp.url(), timeout=5).send(mail())

    assert outcome == Outcome(ok=True, error=None, transient=False)
    [envelope] = smtp.inbox.envelopes
    assert envelope.mail_from == SHOP
    assert envelope.rcpt_tos == ["alice+jobs@example.com"]
    message = parsed(envelope)
    assert message["Subject"] == "Your technician is on the way"
    assert message["To"] == "alice+jobs@example.com"
    assert SHOP in message["From"]
    assert message.get_content_type() == "text/plain"
    text = message.get_content()
    assert TRACKING in text
    assert "Marco is 20 minutes away." in text


async def test_email_over_starttls(smtp_starttls: SmtpServer) -> None:
    # verify=no: the certificate is self-signed; the next test shows verification is on by default.
    url = (
        smtp_starttls.url()
        .replace("mailto://", "mailtos://")
        .replace("mode=insecure", "mode=starttls&verify=no")
    )

    outcome = await AppriseChannel("email", url, timeout=5).send(mail())

    assert outcome.ok
    assert smtp_starttls.inbox.encrypted == [True]
    assert TRACKING in parsed(smtp_starttls.inbox.envelopes[0]).get_content()


async def test_an_untrusted_certificate_is_permanent(smtp_starttls: SmtpServer) -> None:
    url = smtp_starttls.url().replace("mailto://", "mailtos://").replace("mode=insecure", "")

    outcome = await AppriseChannel("email", url, timeout=5).send(mail())

    assert not outcome.ok
    assert not outcome.transient
    assert outcome.error is not None and "certificate verify failed" in outcome.error
    assert smtp_starttls.inbox.envelopes == []


async def test_smtp_server_down_is_transient() -> None:
    url = f"mailto://{SMTP_USER}:{SMTP_PASSWORD}@127.0.0.1:{free_port()}?from={SHOP}&mode=insecure"

    outcome = await AppriseChannel("email", url, timeout=5).send(mail())

    assert not outcome.ok
    assert outcome.transient
    assert outcome.error is not None and "Connection refused" in outcome.error
    assert SMTP_PASSWORD not in outcome.error


async def test_bad_smtp_credentials_are_permanent_and_not_shown(smtp: SmtpServer) -> None:
    channel = AppriseChannel("email", smtp.url(password="wrong-password-123"), timeout=5)

    outcome = await channel.send(mail())

    assert not outcome.ok
    assert not outcome.transient
    assert outcome.error is not None and "535" in outcome.error
    assert "wrong-password-123" not in outcome.error
    assert smtp.inbox.envelopes == []


async def test_a_refused_recipient_fails_and_is_left_to_the_attempt_limit(
    smtp: SmtpServer,
) -> None:
    # Apprise keeps the SMTP reply off its per-service log, so 550 and 451 look alike here.
    smtp.inbox.refuse.add("gone@example.com")

    outcome = await AppriseChannel("email", smtp.url(), timeout=5).send(mail(to="gone@example.com"))

    assert not outcome.ok
    assert outcome.transient
    assert outcome.error is not None and "gone@example.com" in outcome.error


async def test_a_second_address_cannot_ride_along(smtp: SmtpServer) -> None:
    channel = AppriseChannel("email", smtp.url(), timeout=5)

    outcome = await channel.send(mail(to="alice@example.com, mallory@example.com"))

    assert not outcome.ok
    assert not outcome.transient
    assert smtp.inbox.envelopes == []


# --- Failure classification ----------------------------------------------------------------

TWILIO_SUMMARY = "Failed to send Twilio notification to +12145550199: {}, error={}."


@pytest.mark.parametrize(
    ("entries", "transient"),
    [
        # A Twilio-shaped body: the HTTP status comes from it.
        (
            [
                ("WARNING", TWILIO_SUMMARY.format("Service Unavailable", 20503)),
                ("DEBUG", 'Response Details:\r\nb\'{"code": 20503, "status": 503}\''),
            ],
            True,
        ),
        # Not JSON (a proxy's HTML page): Apprise puts the HTTP status in the summary.
        ([("WARNING", TWILIO_SUMMARY.format("Bad Gateway", 502))], True),
        ([("WARNING", TWILIO_SUMMARY.format("Forbidden", 403))], False),
        # No status at all: Twilio's code decides.
        ([("WARNING", TWILIO_SUMMARY.format("Too Many Requests", 20429))], True),
        ([("WARNING", TWILIO_SUMMARY.format("Invalid 'To' Phone Number", 21211))], False),
        # SMTP replies inside the exception text.
        (
            [
                ("WARNING", 'Connection error while submitting email to "smtp.example.com"'),
                ("DEBUG", "Socket Exception: (421, b'4.7.0 Too many connections')"),
            ],
            True,
        ),
        (
            [
                ("WARNING", 'Connection error while submitting email to "smtp.example.com"'),
                ("DEBUG", "Socket Exception: (535, b'5.7.8 Authentication failed')"),
            ],
            False,
        ),
        # TLS trouble is configuration; connection trouble passes.
        (
            [
                ("WARNING", 'Connection error while submitting email to "smtp.example.com"'),
                (
                    "DEBUG",
                    "Socket Exception: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed",
                ),
            ],
            False,
        ),
        (
            [
                (
                    "WARNING",
                    "A Connection error occurred sending Twilio:+12145550199 notification.",
                ),
                ("DEBUG", "Socket Exception: Read timed out. (read timeout=15.0)"),
            ],
            True,
        ),
        ([], True),
    ],
)
def test_failure_classification(entries: list[tuple[str, str]], transient: bool) -> None:
    error, found = _diagnose(entries)

    assert found is transient
    assert error


def test_debug_lines_other_than_the_exception_are_not_kept() -> None:
    error, _ = _diagnose(
        [
            ("DEBUG", "Twilio Payload: {'Body': 'door code 4411', 'To': '+12145550199'}"),
            ("WARNING", "A Connection error occurred sending Twilio:+12145550199 notification."),
        ]
    )

    assert "door code" not in error


def test_redact_keeps_scheme_and_host_only() -> None:
    text = (
        "could not reach https://AC1:tok@api.twilio.com:443/2010-04-01/Accounts/AC1/Messages.json"
        " or mailtos://shop:pw@smtp.example.com:587?from=a@b.example"
    )

    assert redact(text) == "could not reach https://api.twilio.com or mailtos://smtp.example.com"
    assert redact("token f00dfeed in text", ("f00dfeed",)) == "token *** in text"
    assert redact("at smtp://[::1]:25/x.") == "at smtp://[::1]."


# --- Configuration -------------------------------------------------------------------------


def test_a_url_naming_a_recipient_is_refused() -> None:
    with pytest.raises(ValueError, match="names a recipient") as raised:
        AppriseChannel("sms", f"{TWILIO_URL}/+12145550199")
    assert TOKEN not in str(raised.value)
    with pytest.raises(ValueError, match="names a recipient"):
        AppriseChannel("email", f"mailto://u:p@smtp.example.com?from={SHOP}&to=a@example.com")


def test_a_url_apprise_refuses_is_an_error_without_the_secret() -> None:
    bad_token = "not-a-valid-token!!"
    with pytest.raises(ValueError, match="Apprise refused") as raised:
        AppriseChannel("sms", f"twilio://{SID}:{bad_token}@{FROM}")
    assert bad_token not in str(raised.value)
    assert SID not in str(raised.value)
    with pytest.raises(ValueError, match="cannot load"):
        AppriseChannel("sms", "nosuchservice://key@host")


def test_api_base_is_only_for_twilio() -> None:
    with pytest.raises(ValueError, match="api_base"):
        AppriseChannel(
            "email", f"mailto://u:p@smtp.example.com?from={SHOP}", api_base="http://127.0.0.1:9"
        )


def test_the_channel_never_shows_its_credentials() -> None:
    channel = AppriseChannel("sms", TWILIO_URL)

    assert repr(channel) == f"AppriseChannel('sms', 'twilio://{FROM}')"
    assert channel.service == "Twilio"


def test_channels_from_settings_fill_gaps_with_log_channels() -> None:
    unset = channels_from_settings(None, "")
    assert isinstance(unset["sms"], LogChannel)
    assert isinstance(unset["email"], LogChannel)

    configured = channels_from_settings(TWILIO_URL, f"mailtos://u:p@smtp.example.com?from={SHOP}")
    assert isinstance(configured["sms"], AppriseChannel)
    assert isinstance(configured["email"], AppriseChannel)
    assert [channel.name for channel in configured.values()] == ["sms", "email"]


# --- The embedded default and the twin -----------------------------------------------------


async def test_log_channel_logs_and_keeps_the_last_few(caplog: pytest.LogCaptureFixture) -> None:
    channel = LogChannel("email", keep=2)
    messages = [mail(subject=f"Update {n}") for n in range(3)]

    with caplog.at_level(logging.INFO, logger="routeboard.notify"):
        outcomes = [await channel.send(m) for m in messages]

    assert all(o.ok for o in outcomes)
    assert channel.recent == messages[1:]
    assert [r.name for r in caplog.records] == ["routeboard.notify"] * 3
    assert "Update 2" in caplog.records[-1].getMessage()
    assert TRACKING in caplog.records[-1].getMessage()


async def test_memory_channel_records_and_fails_when_told() -> None:
    channel = MemoryChannel("sms")
    channel.fail_next(2, error="carrier unreachable", transient=True)

    first, second, third = [await channel.send(sms()) for _ in range(3)]

    assert first == second == Outcome(ok=False, error="carrier unreachable", transient=True)
    assert third.ok
    assert len(channel.attempts) == 3
    assert channel.sent == [sms()]

    channel.fail_next(error="number blocked", transient=False)
    assert await channel.send(sms()) == Outcome(ok=False, error="number blocked", transient=False)


@pytest.fixture(params=["apprise", "memory"])
def any_sms(request: pytest.FixtureRequest, twilio: FakeTwilio) -> Channel:
    return sms_channel(twilio) if request.param == "apprise" else MemoryChannel("sms")


async def test_the_twin_refuses_what_the_real_channel_refuses(any_sms: Channel) -> None:
    assert (await any_sms.send(sms())).ok
    for wrong in (sms(to="555-0199"), sms(body="  "), mail()):
        outcome = await any_sms.send(wrong)
        assert not outcome.ok
        assert not outcome.transient
    assert (await any_sms.send(sms(to="555-0199"))).error == (
        "'555-0199' is not a phone number in E.164 form (+12145550199)"
    )


# --- Secrets -------------------------------------------------------------------------------


async def test_no_secret_reaches_error_text_or_log(
    twilio: FakeTwilio, smtp: SmtpServer, caplog: pytest.LogCaptureFixture
) -> None:
    twilio.fail_next(1, 500)
    failing: list[tuple[AppriseChannel, Message]] = [
        (sms_channel(twilio), sms()),
        (sms_channel(twilio), sms(to="+15005550001")),
        (sms_channel(twilio, f"twilio://{SID}:{'ab' * 16}@{FROM}"), sms()),
        (AppriseChannel("sms", TWILIO_URL, api_base=f"http://127.0.0.1:{free_port()}"), sms()),
        (AppriseChannel("email", smtp.url(password=SMTP_PASSWORD + "x")), mail()),
        (AppriseChannel("email", smtp.url().replace(str(smtp.port), str(free_port()))), mail()),
    ]

    with caplog.at_level(logging.DEBUG, logger="routeboard.notify"):
        outcomes = [await channel.send(message) for channel, message in failing]

    assert not any(o.ok for o in outcomes)
    for text in [o.error or "" for o in outcomes] + [caplog.text]:
        for secret in (*SECRETS, "ab" * 16):
            assert secret not in text

"""Delivering customer notifications (SMS and email) behind one small Protocol.

``AppriseChannel`` sends through Apprise, so the operator picks the provider with one URL per
channel (``twilio://…`` for SMS, ``mailto://…`` for email, or any other Apprise service) and the
recipient is filled in per message. ``LogChannel`` is the embedded default when no URL is set: it
writes the message to the log and keeps the last few for the admin view. ``MemoryChannel`` is the
in-memory twin for tests and the demo.

Apprise is synchronous and blocking, so each send runs on a worker thread, with a fresh
``Apprise`` object and plugin: those carry per-send state (the throttle clock, the memo of
targets already reached) and are not documented as safe to share between threads.

A failed send comes back as an ``Outcome`` with readable error text and a guess at whether a
retry could help. Apprise only answers True/False; the reason is in what it logged, which Apprise
2.x captures per service and per call (``AppriseResult.logs()``) through context variables, so
concurrent sends never read each other's lines, as they would through ``apprise.LogCapture`` on
the shared ``apprise`` logger. The plugin's useful detail (the socket exception, the SMTP reply,
Twilio's response body) is logged at DEBUG, which the shared logger drops before any capture
sees it; lowering that logger's level would also stream message bodies and phone numbers into
the application log. So each plugin gets a private logger that keeps DEBUG for the capture and
passes nothing on. How the captured lines are classified is documented at ``_diagnose``.

Apprise URLs carry credentials. Nothing kept or logged here shows them: any URL in error text is
cut to scheme and host, and the URL's own user, password and secret-looking parameters are
replaced with ``***``.
"""

from __future__ import annotations

import logging
import re
from collections import deque
from dataclasses import dataclass
from typing import Literal, Protocol
from urllib.parse import parse_qsl, quote, unquote_plus, urlencode, urlsplit, urlunsplit

import anyio.to_thread
import apprise
from apprise.plugins.twilio import NotifyTwilio

log = logging.getLogger("routeboard.notify")

CHANNELS = ("sms", "email")
# E.164: a plus, a country code that does not start with 0, at most 15 digits in all.
E164 = re.compile(r"\+[1-9]\d{6,14}")
# Deliberately loose (the address was validated when the customer was saved); it only has to
# keep out what would change the Apprise URL: a second address, spaces, separators.
EMAIL = re.compile(r"[^@\s,;<>\"]+@[^@\s,;<>\"]+\.[^@\s,;<>\".]+")
# Punctuation people write inside phone numbers ("+1 (214) 555-0101").
PHONE_PUNCTUATION = re.compile(r"[\s().\-]")
# Query parameters whose value is (or may be) a credential, across Apprise's services.
SECRET_PARAMETER = re.compile(r"key|token|secret|pass|pwd|sid|auth|user|login", re.IGNORECASE)
# A URL in running text; punctuation that ends the sentence is not part of it.
URL_IN_TEXT = re.compile(r"[a-z][a-z0-9+.\-]*://[^\s'\"<>]*[^\s'\"<>.,;:)\]]", re.IGNORECASE)
# Shorter "secrets" would mangle ordinary words in the error text.
MIN_SECRET = 4
MAX_ERROR = 1000
SILENT = "Apprise reported a failure without saying why"


@dataclass(frozen=True)
class Message:
    """One customer notification, as plain text."""

    channel: Literal["sms", "email"]
    to: str  # E.164 phone number or email address
    subject: str  # email only (ignored for sms)
    body: str


@dataclass(frozen=True)
class Outcome:
    """What one send did; ``transient`` says whether trying again later could help."""

    ok: bool
    error: str | None
    transient: bool

    def __post_init__(self) -> None:
        if self.ok and (self.error is not None or self.transient):
            raise ValueError("a delivered message has no error and nothing to retry")
        if not self.ok and not self.error:
            raise ValueError("a failed send must say what failed")


DELIVERED = Outcome(ok=True, error=None, transient=False)


class Channel(Protocol):
    """Delivers a message to one customer; never raises for a delivery failure."""

    name: str

    async def send(self, message: Message) -> Outcome:
        """Try once; the caller owns retries, so a transient failure is reported, not retried."""
        ...


def _refused(error: str) -> Outcome:
    return Outcome(ok=False, error=error, transient=False)


def _recipient(channel: str, message: Message) -> str | Outcome:
    """The recipient as the provider wants it, or the refusal a malformed message earns."""
    if message.channel != channel:
        return _refused(f"a {message.channel} message was given to the {channel} channel")
    if not message.body.strip():
        return _refused("the message body is empty")
    if channel == "sms":
        number = PHONE_PUNCTUATION.sub("", message.to)
        if not E164.fullmatch(number):
            return _refused(f"{message.to!r} is not a phone number in E.164 form (+12145550199)")
        return number
    address = message.to.strip()
    if not EMAIL.fullmatch(address):
        return _refused(f"{message.to!r} is not a single email address")
    return address


def _secrets(url: str) -> tuple[str, ...]:
    """The credentials in an Apprise URL, longest first so a longer one is masked whole."""
    parts = urlsplit(url)
    found: set[str] = set()
    userinfo = parts.netloc.rpartition("@")[0]
    for piece in userinfo.split(":", 1) if userinfo else []:
        found.update((piece, unquote_plus(piece)))
    for pair in parts.query.split("&"):
        key, _, value = pair.partition("=")
        if SECRET_PARAMETER.search(unquote_plus(key)):
            found.update((value, unquote_plus(value)))
    return tuple(sorted((s for s in found if len(s) >= MIN_SECRET), key=len, reverse=True))


def _scheme_and_host(match: re.Match[str]) -> str:
    scheme, _, rest = match.group(0).partition("://")
    host = re.split(r"[/?#]", rest, maxsplit=1)[0].rpartition("@")[2]
    if host.startswith("["):  # an IPv6 literal, maybe with a port after the bracket
        host = host.partition("]")[0] + "]"
    elif ":" in host:
        host = host.partition(":")[0]
    return f"{scheme}://{host}"


def redact(text: str, secrets: tuple[str, ...] = ()) -> str:
    """``text`` with every URL cut to scheme and host and every secret replaced by ``***``."""
    text = URL_IN_TEXT.sub(_scheme_and_host, text)
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


# How a failure is classified, in this order; the first rule that finds its evidence decides.
# 1. An HTTP status: Twilio's error body carries it ("status": 503), Apprise's summary line ends
#    "error=<n>." with the status when the body was not Twilio JSON. 408, 425, 429 and 5xx are
#    transient, any other status permanent (400 invalid number, 401 bad credentials).
# 2. A Twilio error code in that summary line (error=21211) when no status was found: Twilio's
#    generic codes 20xxx echo an HTTP status (20429, 20500, 20503), judged as that status; every
#    other code describes the request (21211 invalid number, 21610 opted out): permanent.
# 3. An SMTP reply in the exception text, "(535, b'…')": 4xx transient, 5xx permanent.
# 4. A TLS failure (certificate, wrong mode for the port): a configuration fault, permanent.
# 5. Connection trouble (refused, reset, timed out, name resolution): transient.
# 6. Anything else is transient, and the caller's attempt limit settles it. This includes an
#    SMTP server refusing the recipient or the message after a good login: Apprise logs that
#    reply only at DEBUG on its shared logger, outside the per-service capture, so a 550 cannot
#    be told from a 451 here.
BODY_STATUS = re.compile(r'"status"\s*:\s*(\d{3})\b')
SUMMARY_CODE = re.compile(r"error=(\d+)\.?\s*$")
SMTP_REPLY = re.compile(r"\((\d{3}), b?['\"]")
TLS_SIGNS = (
    "certificate verify failed",
    "certificate_verify_failed",
    "hostname mismatch",
    "wrong version number",
    "wrong_version_number",
)
CONNECTION_SIGNS = (
    "connection error",
    "connection refused",
    "connection reset",
    "connection aborted",
    "connection unexpectedly closed",
    "remotedisconnected",
    "server not connected",
    "timed out",
    "timeout",
    "temporary failure in name resolution",
    "name or service not known",
    "network is unreachable",
    "no route to host",
)


def _transient_status(status: int) -> bool:
    return status in (408, 425, 429) or status >= 500


def _diagnose(entries: list[tuple[str, str]]) -> tuple[str, bool]:
    """Readable error text and whether it is transient, from one send's captured log lines."""
    # Apprise's own summary lines (WARNING and up) read well; of the DEBUG lines only the
    # exception is kept, since the rest echo the request, body and numbers included.
    said = [m for level, m in entries if level not in ("TRACE", "DEBUG", "INFO")]
    causes = [
        m.partition(":")[2].strip() for level, m in entries if m.startswith("Socket Exception:")
    ]
    lines = list(dict.fromkeys(said + [f"({cause})" for cause in causes if cause]))
    text = " ".join(lines) or SILENT

    status: int | None = None
    code: int | None = None
    for _, m in entries:
        if m.startswith("Response Details:"):
            found = BODY_STATUS.search(m.replace("\\", ""))
            status = int(found.group(1)) if found else status
    for m in said:
        found = SUMMARY_CODE.search(m)
        if found:
            code = int(found.group(1))
    if status is None and code is not None and 100 <= code <= 599:
        status, code = code, None
    if status is not None:
        if f"HTTP {status}" not in text:
            text = f"HTTP {status}: {text}"
        return text, _transient_status(status)
    if code is not None:
        echoed = code % 1000 if code // 1000 == 20 else None
        return text, echoed is not None and _transient_status(echoed)
    for cause in causes:
        reply = SMTP_REPLY.search(cause)
        if reply:
            return text, int(reply.group(1)) < 500
    lowered = text.lower()
    if any(sign in lowered for sign in TLS_SIGNS):
        return text, False
    if any(sign in lowered for sign in CONNECTION_SIGNS):
        return text, True
    return text, True


def _private_logger() -> logging.Logger:
    # Made directly, not through logging.getLogger: nothing else holds it or sees its records,
    # and it goes away with the plugin. The NullHandler keeps logging's last-resort handler from
    # printing a record logged while no capture is attached.
    logger = logging.Logger("routeboard.notify.apprise", logging.DEBUG)
    logger.propagate = False
    logger.addHandler(logging.NullHandler())
    return logger


def _with_api_base(template: str, base: str) -> str:
    path = urlsplit(template).path
    return f"{base}{path}"


class AppriseChannel:
    """One Apprise URL template per channel; the recipient is filled in per message.

    SMS: ``twilio://AccountSID:AuthToken@+15005550006`` (the recipient is appended as a path,
    ``/+12145550199``). Email: ``mailto://user:pass@smtp.example.com?from=shop@example.com``
    (the recipient is added as ``to=``). ``timeout`` bounds each connect and each read.

    ``api_base`` sends Twilio's HTTP requests to another host: Twilio's regional edges
    (``https://api.dublin.ie1.twilio.com``) or a local server in tests. Apprise has no URL
    parameter for it; its Twilio plugin keeps ``https://api.twilio.com`` in the class attributes
    ``notify_sms_url``/``notify_call_url``, so they are overridden on each send's own plugin
    instance, never on the shared class.
    """

    def __init__(
        self, name: str, url: str, *, timeout: float = 15.0, api_base: str | None = None
    ) -> None:
        if name not in CHANNELS:
            raise ValueError(f"channel name must be one of {CHANNELS}, got {name!r}")
        if not timeout > 0:
            raise ValueError("timeout must be positive")
        self.name = name
        self.timeout = timeout
        self._url = url
        self._secrets = _secrets(url)
        parts = urlsplit(url)
        # What may be shown of the URL anywhere: scheme and host.
        self.shown = redact(urlunsplit((parts.scheme, parts.netloc, "", "", "")))
        keys = {key.lower() for key, _ in parse_qsl(parts.query, keep_blank_values=True)}
        if parts.path.strip("/") or "to" in keys:
            raise ValueError(
                f"{name}: the URL {self.shown} names a recipient; leave it out, "
                "each message fills in its own"
            )
        self.api_base = api_base.rstrip("/") if api_base else None
        plugin = self._plugin(None)
        if self.api_base is not None and not isinstance(plugin, NotifyTwilio):
            raise ValueError(f"{name}: api_base only applies to twilio:// URLs")
        self.service = str(plugin.service_name)

    def __repr__(self) -> str:
        return f"AppriseChannel({self.name!r}, {self.shown!r})"

    def _url_for(self, recipient: str | None) -> str:
        parts = urlsplit(self._url)
        path, query = parts.path, parts.query
        extra: list[tuple[str, str]] = []
        if recipient is not None and self.name == "sms":
            path = f"{path.rstrip('/')}/{quote(recipient, safe='')}"
        elif recipient is not None:
            extra.append(("to", recipient))
        keys = {key.lower() for key, _ in parse_qsl(query, keep_blank_values=True)}
        # Apprise's socket timeouts (connect, read) unless the operator set their own.
        extra += [(key, str(self.timeout)) for key in ("cto", "rto") if key not in keys]
        query = "&".join(part for part in (query, urlencode(extra)) if part)
        return urlunsplit((parts.scheme, parts.netloc, path, query, parts.fragment))

    def _plugin(self, recipient: str | None) -> apprise.NotifyBase:
        # No worker pool, no overall deadline (the socket timeouts bound the send, and a thread
        # abandoned mid-send could deliver a message nobody records), nothing written to disk.
        asset = apprise.AppriseAsset(
            async_mode=False,
            service_timeout=0,
            storage_mode=apprise.PersistentStoreMode.MEMORY,
        )
        try:
            plugin = apprise.Apprise.instantiate(
                self._url_for(recipient), asset=asset, suppress_exceptions=False
            )
        except Exception as exc:
            # Apprise's message may quote the rejected token; the cause is left off for that.
            raise ValueError(
                redact(f"{self.name}: Apprise refused {self.shown}: {exc}", self._secrets)
            ) from None
        if plugin is None:
            raise ValueError(f"{self.name}: Apprise cannot load {self.shown}")
        if self.api_base is not None and isinstance(plugin, NotifyTwilio):
            plugin.notify_sms_url = _with_api_base(NotifyTwilio.notify_sms_url, self.api_base)
            plugin.notify_call_url = _with_api_base(NotifyTwilio.notify_call_url, self.api_base)
        plugin.logger = _private_logger()
        return plugin

    async def send(self, message: Message) -> Outcome:
        recipient = _recipient(self.name, message)
        if isinstance(recipient, Outcome):
            return recipient
        # Not cancellable: once the request is out, abandoning the thread would lose the answer
        # and a retry would send the message twice.
        outcome = await anyio.to_thread.run_sync(self._deliver, message, recipient)
        if outcome.ok:
            log.info("%s: delivered through %s", self.name, self.shown)
        else:
            kind = "transient" if outcome.transient else "permanent"
            log.warning(
                "%s: not delivered through %s (%s): %s", self.name, self.shown, kind, outcome.error
            )
        return outcome

    def _deliver(self, message: Message, recipient: str) -> Outcome:
        try:
            plugin = self._plugin(recipient)
        except ValueError as exc:
            return _refused(str(exc))
        # Apprise drops a target it cannot parse and, for Twilio and email, then sends to the
        # sender's own number or address instead; never let that happen.
        if not getattr(plugin, "targets", True):
            return _refused(f"{plugin.service_name} does not accept the recipient {recipient}")
        notifier = apprise.Apprise(asset=plugin.asset)
        notifier.add(plugin)
        try:
            with notifier.notify(
                body=message.body,
                title=message.subject if self.name == "email" else "",
                body_format=apprise.NotifyFormat.TEXT,
                log_level=logging.DEBUG,
            ) as result:
                if result:
                    return DELIVERED
                entries = [(entry.level, entry.message) for entry in result.logs()]
        except Exception as exc:
            # Apprise turns a plugin's failure into a False; reaching here is a fault in
            # Apprise or in this code, which a retry will not mend.
            error = f"{type(exc).__name__}: {exc}"
            return _refused(redact(error, self._secrets)[:MAX_ERROR])
        error, transient = _diagnose(entries)
        return Outcome(
            ok=False, error=redact(error, self._secrets)[:MAX_ERROR], transient=transient
        )


class LogChannel:
    """The embedded default: the message goes to the log, and the last ``keep`` stay in memory.

    Always ok, so a shop trying Routeboard without an SMS or email provider sees what its
    customers would have received (in the log and the admin view) instead of errors.
    """

    def __init__(self, name: str, *, keep: int = 100) -> None:
        if name not in CHANNELS:
            raise ValueError(f"channel name must be one of {CHANNELS}, got {name!r}")
        self.name = name
        self._recent: deque[Message] = deque(maxlen=keep)

    @property
    def recent(self) -> list[Message]:
        """The last messages, oldest first."""
        return list(self._recent)

    async def send(self, message: Message) -> Outcome:
        self._recent.append(message)
        subject = f" [{message.subject}]" if message.channel == "email" and message.subject else ""
        log.info(
            "%s to %s (not sent: no %s provider configured)%s: %s",
            message.channel,
            message.to,
            self.name,
            subject,
            message.body,
        )
        return DELIVERED


class MemoryChannel:
    """The in-memory twin: records messages, and fails the next sends when told to.

    It refuses what the real channel refuses before sending (a message for the other channel, an
    empty body, a recipient that is not a phone number or an email address), with the same text.
    """

    def __init__(self, name: str) -> None:
        if name not in CHANNELS:
            raise ValueError(f"channel name must be one of {CHANNELS}, got {name!r}")
        self.name = name
        self.attempts: list[Message] = []
        self.sent: list[Message] = []
        self._failures: deque[Outcome] = deque()

    def fail_next(
        self, times: int = 1, *, error: str = "simulated failure", transient: bool = True
    ) -> None:
        """Make the next ``times`` sends fail with ``error``."""
        if times < 0:
            raise ValueError("times must not be negative")
        self._failures.extend([Outcome(ok=False, error=error, transient=transient)] * times)

    async def send(self, message: Message) -> Outcome:
        self.attempts.append(message)
        recipient = _recipient(self.name, message)
        if isinstance(recipient, Outcome):
            return recipient
        if self._failures:
            return self._failures.popleft()
        self.sent.append(message)
        return DELIVERED


def channels_from_settings(sms_url: str | None, email_url: str | None) -> dict[str, Channel]:
    """An AppriseChannel per configured URL, a LogChannel for each channel left unset."""
    urls = {"sms": sms_url, "email": email_url}
    # An empty string counts as unset: that is what an emptied environment variable gives.
    return {
        name: AppriseChannel(name, url.strip()) if url and url.strip() else LogChannel(name)
        for name, url in urls.items()
    }

"""MQTT subscription that feeds device events (technician availability) into the app.

Delivery is at least once: a QoS 1 message is acknowledged to the broker only once the handler
has stored it, or, when the handler keeps failing, once it has been dead-lettered. Until then it
is retried in place with backoff (a database outage holds the queue, it does not drop it), and
a message in flight when the connection drops or the process stops is sent again by the broker.
Handlers must therefore be idempotent. With a ``client_id`` the
session is persistent (``clean_session=False``): the broker keeps the subscription and queues QoS
1 messages while the subscriber is away, and delivers them on reconnect. Such sessions live on in
the broker until ``persistent_client_expiration`` (Mosquitto), so give each deployment one
stable id, and never two running processes the same one: the broker drops the older connection
each time the other connects, and they would take turns forever.
"""

from __future__ import annotations

import asyncio
import logging
import random
import ssl
from collections.abc import Awaitable, Callable
from typing import Protocol
from urllib.parse import unquote, urlsplit

import aiomqtt
from paho.mqtt.reasoncodes import ReasonCode

log = logging.getLogger(__name__)

Handler = Callable[[str, bytes], Awaitable[None]]
# Keeps a message the handler could not take (topic, payload, the last error); raises if it
# cannot keep it either, and the message is retried again.
DeadLetter = Callable[[str, bytes, Exception], Awaitable[None]]

DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883}


class Subscriber(Protocol):
    """What the app needs from a topic subscription: run it, and know when it is live."""

    ready: asyncio.Event

    async def run(self) -> None: ...


def topic_technician(topic: str, pattern: str) -> str | None:
    """The level of ``topic`` under the single ``+`` of ``pattern``; None when it does not match.

    An empty level matches ``+`` in MQTT, but names no technician, so it counts as no match.
    """
    wanted = pattern.split("/")
    if wanted.count("+") != 1 or "#" in pattern:
        raise ValueError(f"pattern needs exactly one '+' level and no '#': {pattern!r}")
    levels = topic.split("/")
    if len(levels) != len(wanted):
        return None
    found: str | None = None
    for level, want in zip(levels, wanted, strict=True):
        if want == "+":
            found = level
        elif level != want:
            return None
    return found or None


class MqttSubscriber:
    """Subscribes to one topic filter with QoS 1 and hands each message, in order, to a handler.

    ``run()`` keeps the subscription alive until cancelled, reconnecting with exponential backoff
    and jitter; the backoff restarts after each successful connect.
    """

    def __init__(
        self,
        url: str,
        topic: str,
        handler: Handler,
        *,
        client_id: str | None = None,
        min_backoff: float = 0.5,
        max_backoff: float = 30.0,
        dead_letter: DeadLetter | None = None,
        outage: Callable[[Exception], bool] = lambda _: False,
        attempts: int = 5,
        retry_delay: float = 0.2,
        max_retry_delay: float = 5.0,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
            raise ValueError("MQTT url must look like mqtt[s]://[user:pass@]host[:port]")
        self.host = parts.hostname
        self.port = parts.port or DEFAULT_PORTS[parts.scheme]
        self._username = unquote(parts.username) if parts.username is not None else None
        self._password = unquote(parts.password) if parts.password is not None else None
        # Built once: loading the system CA store is file I/O we do not want per reconnect.
        self._tls = ssl.create_default_context() if parts.scheme == "mqtts" else None
        self.topic = topic
        self.handler = handler
        self.client_id = client_id
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff
        self.dead_letter = dead_letter
        self.outage = outage
        self.attempts = attempts
        self.retry_delay = retry_delay
        self.max_retry_delay = max_retry_delay
        self.ready = asyncio.Event()
        self.connects = 0
        self.dead_letters = 0

    async def run(self) -> None:
        """Stay subscribed until cancelled."""
        failures = 0
        while True:
            connects = self.connects
            try:
                await self._session()
            except aiomqtt.MqttError as exc:
                reason = str(exc) or type(exc).__name__
            finally:
                self.ready.clear()
            if self.connects > connects:
                failures = 0
                log.warning("MQTT connection to %s:%s lost: %s", self.host, self.port, reason)
            base = min(self.max_backoff, self.min_backoff * 2**failures)
            # Jitter in [base/2, base]: spreads a fleet's reconnects after a broker restart,
            # yet never retries at once, which would spin while the broker refuses us.
            delay = base * random.uniform(0.5, 1.0)
            failures += 1
            log.warning(
                "MQTT reconnecting to %s:%s in %.2fs (attempt %d): %s",
                self.host,
                self.port,
                delay,
                failures,
                reason,
            )
            await asyncio.sleep(delay)

    async def _session(self) -> None:
        # A fresh Client per connection: aiomqtt keeps already-received messages in a queue that
        # would otherwise outlive the connection, and their message ids mean nothing on the next.
        client = aiomqtt.Client(
            self.host,
            self.port,
            username=self._username,
            password=self._password,
            identifier=self.client_id,
            # paho insists on a client id for a persistent session; without one the broker
            # could not find the session again anyway.
            clean_session=self.client_id is None,
            tls_context=self._tls,
        )
        # paho acknowledges QoS 1 as soon as a message is queued, before our handler has seen
        # it; aiomqtt 2.x has no public switch for manual acks yet (aiomqtt issue #345), so we
        # reach the paho client it wraps. Set before connecting: a persistent session's queued
        # messages arrive right after CONNACK.
        paho = client._client
        paho.manual_ack_set(True)
        async with client:
            self.connects += 1
            granted = await client.subscribe(self.topic, qos=1)
            if any(_refused(code) for code in granted):
                raise aiomqtt.MqttError(f"broker refused the subscription to {self.topic!r}")
            log.info("MQTT subscribed to %r on %s:%s", self.topic, self.host, self.port)
            self.ready.set()
            async for message in client.messages:
                payload = message.payload
                assert isinstance(payload, bytes), "paho hands payloads over as bytes"
                await self._take(message.topic.value, payload)
                paho.ack(message.mid, message.qos)
        # aiomqtt ends the iteration only by raising on disconnect; this keeps run() honest if not.
        raise aiomqtt.MqttError("message stream ended")

    async def _take(self, topic: str, payload: bytes) -> None:
        """Return once the message is stored or dead-lettered: only then may it be acknowledged.

        Retried in place, so the messages behind it wait in order (the broker holds them). An
        outage (``outage(exc)``: the database unreachable) is waited out however long it lasts:
        the message is fine, and dead-lettering it would only lose it from the board. Any other
        failure is dead-lettered after ``attempts`` tries; with no dead letter it is dropped with
        an error in the log; if the dead letter fails too, the retries go on.
        """
        failures = tries = 0
        while True:
            try:
                await self.handler(topic, payload)
                return
            except Exception as exc:
                tries += 1
                if tries == 1:
                    log.exception("MQTT handler failed for a message on %r; retrying", topic)
                failures += 0 if self.outage(exc) else 1
                if failures >= self.attempts:
                    if self.dead_letter is None:
                        log.error("MQTT message on %r dropped after %d tries", topic, failures)
                        return
                    try:
                        await self.dead_letter(topic, payload, exc)
                    except Exception:
                        log.exception("MQTT message on %r could not be dead-lettered", topic)
                    else:
                        self.dead_letters += 1
                        log.warning("MQTT message on %r dead-lettered: %s", topic, exc)
                        return
            await asyncio.sleep(
                min(self.max_retry_delay, self.retry_delay * 2 ** min(tries - 1, 10))
            )


def _refused(code: int | ReasonCode) -> bool:
    # MQTT 3.1.1 SUBACK: 0x80 is failure; paho's VERSION2 callbacks wrap it in a ReasonCode.
    return code.is_failure if isinstance(code, ReasonCode) else code >= 0x80


class MemorySubscriber:
    """In-memory twin for unit tests and the demo: ``publish`` calls the handler directly."""

    def __init__(self, topic: str, handler: Handler) -> None:
        self.topic = topic
        self.handler = handler
        self.ready = asyncio.Event()

    async def run(self) -> None:
        self.ready.set()
        try:
            await asyncio.Event().wait()
        finally:
            self.ready.clear()

    async def publish(self, topic: str, payload: bytes) -> None:
        """Deliver one message, as the broker would, if it matches the subscribed filter."""
        if aiomqtt.Topic(topic).matches(self.topic):
            await self.handler(topic, payload)

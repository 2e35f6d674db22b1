"""The MQTT subscriber against a real Mosquitto broker; each test on its own topic prefix.

Skipped when the broker is unreachable, unless ROUTEBOARD_REQUIRE_SERVICES=1, where that fails.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import cast
from uuid import uuid4

import aiomqtt
import pytest

from routeboard.ingest.mqtt import MemorySubscriber, MqttSubscriber, topic_technician
from tests.conftest import REQUIRE_SERVICES
from tests.events.live import free_port

pytestmark = pytest.mark.anyio

MQTT_HOST = os.environ.get("ROUTEBOARD_TEST_MQTT_HOST", "127.0.0.1")
MQTT_PORT = int(os.environ.get("ROUTEBOARD_TEST_MQTT_PORT", "1883"))
LOGGER = "routeboard.ingest.mqtt"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def broker() -> str:
    try:
        with socket.create_connection((MQTT_HOST, MQTT_PORT), timeout=1):
            pass
    except OSError:
        reason = f"Mosquitto is not reachable at {MQTT_HOST}:{MQTT_PORT}"
        if REQUIRE_SERVICES:
            pytest.fail(f"{reason} and ROUTEBOARD_REQUIRE_SERVICES=1")
        pytest.skip(reason)
    return f"mqtt://{MQTT_HOST}:{MQTT_PORT}"


@pytest.fixture
def prefix() -> str:
    return f"routeboard-test/{uuid4().hex}"


@pytest.fixture
async def client_id(broker: str) -> AsyncIterator[str]:
    cid = f"routeboard-test-{uuid4().hex[:12]}"
    yield cid
    # A persistent session outlives the test in the broker; a clean connect discards it.
    async with aiomqtt.Client(MQTT_HOST, MQTT_PORT, identifier=cid, clean_session=True):
        pass


class Inbox:
    """A handler that records what it is given, and lets a test wait for a count."""

    def __init__(self, fail_on: bytes | None = None) -> None:
        self.items: list[tuple[str, bytes]] = []
        self.fail_on = fail_on
        self._changed = asyncio.Event()

    async def __call__(self, topic: str, payload: bytes) -> None:
        self.items.append((topic, payload))
        self._changed.set()
        if payload == self.fail_on:
            raise RuntimeError("handler failed on purpose")

    @property
    def payloads(self) -> list[bytes]:
        return [payload for _, payload in self.items]

    async def wait(self, count: int, timeout: float = 3) -> None:
        async with asyncio.timeout(timeout):
            while len(self.items) < count:
                self._changed.clear()
                await self._changed.wait()


@asynccontextmanager
async def running(sub: MqttSubscriber, *, wait_ready: bool = True) -> AsyncIterator[None]:
    task = asyncio.create_task(sub.run())
    try:
        if wait_ready:
            async with asyncio.timeout(3):
                await sub.ready.wait()
        yield
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def publish(topic: str, *payloads: bytes) -> None:
    async with aiomqtt.Client(MQTT_HOST, MQTT_PORT) as client:
        for payload in payloads:
            await client.publish(topic, payload, qos=1)


async def wait_until(check: Callable[[], bool], timeout: float = 3) -> None:
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.01)


async def test_qos1_messages_reach_the_handler_in_order(broker: str, prefix: str) -> None:
    inbox = Inbox()
    sub = MqttSubscriber(broker, f"{prefix}/technicians/+/events", inbox)
    sent = [f"event {i}".encode() for i in range(20)]
    async with running(sub):
        await publish(f"{prefix}/technicians/7/events", *sent)
        await publish(f"{prefix}/elsewhere", b"not for us")
        await inbox.wait(len(sent))
        await asyncio.sleep(0.1)  # room for a stray message to arrive, if one were coming
    assert inbox.payloads == sent
    assert {topic for topic, _ in inbox.items} == {f"{prefix}/technicians/7/events"}
    assert sub.connects == 1


async def test_a_message_that_keeps_failing_is_dead_lettered_then_the_rest_follow(
    broker: str, prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=LOGGER)
    inbox = Inbox(fail_on=b"bad")
    kept: list[tuple[bytes, str]] = []

    async def dead_letter(topic: str, payload: bytes, error: Exception) -> None:
        kept.append((payload, str(error)))

    sub = MqttSubscriber(
        broker, f"{prefix}/#", inbox, dead_letter=dead_letter, attempts=3, retry_delay=0.01
    )
    async with running(sub):
        await publish(f"{prefix}/a", b"one", b"bad", b"two")
        await inbox.wait(5)
        assert sub.ready.is_set()
    # Tried three times, kept, and only then acknowledged; the next waited its turn.
    assert inbox.payloads == [b"one", b"bad", b"bad", b"bad", b"two"]
    assert kept == [(b"bad", "handler failed on purpose")]
    assert "handler failed" in caplog.text
    assert sub.connects == 1


async def test_an_outage_is_waited_out_and_a_failed_dead_letter_is_tried_again(
    broker: str, prefix: str, client_id: str
) -> None:
    """Nothing is acknowledged that is neither stored nor kept: while the database is away
    (``outage``) a message is retried without counting; a dead letter that fails is retried."""
    down = {"handler": 6, "dead letter": 1}
    calls: list[str] = []
    kept: list[bytes] = []

    async def handler(topic: str, payload: bytes) -> None:
        calls.append(payload.decode())
        if payload == b"outage" and down["handler"] > 0:
            down["handler"] -= 1
            raise ConnectionRefusedError("database down")
        if payload == b"broken":
            raise ValueError("cannot take it")

    async def dead_letter(topic: str, payload: bytes, error: Exception) -> None:
        if down["dead letter"] > 0:
            down["dead letter"] -= 1
            raise ConnectionRefusedError("database down")
        kept.append(payload)

    sub = MqttSubscriber(
        broker, f"{prefix}/t", handler, client_id=client_id, dead_letter=dead_letter,
        outage=lambda exc: isinstance(exc, ConnectionRefusedError), attempts=2,
        retry_delay=0.001, max_retry_delay=0.01,
    )  # fmt: skip
    async with running(sub):
        await publish(f"{prefix}/t", b"outage", b"broken", b"after")
        await wait_until(lambda: "after" in calls)
    # Six outages then stored, never dead-lettered; "broken" kept at the second dead letter.
    assert calls == ["outage"] * 7 + ["broken"] * 3 + ["after"]
    assert kept == [b"broken"]


async def test_reconnects_after_the_connection_drops_and_gets_what_was_sent_meanwhile(
    broker: str, prefix: str, client_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=LOGGER)
    inbox = Inbox()
    # min_backoff 0.4 keeps the subscriber away for at least 0.2 s after the drop.
    sub = MqttSubscriber(broker, f"{prefix}/t", inbox, client_id=client_id, min_backoff=0.4)
    async with running(sub):
        await publish(f"{prefix}/t", b"before")
        await inbox.wait(1)
        # Mosquitto drops a connection when another arrives with the same client id. The
        # intruder keeps the session (clean_session=False) and leaves at once, so the session
        # sits offline with its subscription while the subscriber backs off.
        async with aiomqtt.Client(MQTT_HOST, MQTT_PORT, identifier=client_id, clean_session=False):
            pass
        await wait_until(lambda: not sub.ready.is_set())  # the drop reached the subscriber
        await publish(f"{prefix}/t", b"while away")
        await wait_until(lambda: sub.connects >= 2 and sub.ready.is_set())
        await publish(f"{prefix}/t", b"after")
        await inbox.wait(3)
    assert inbox.payloads == [b"before", b"while away", b"after"]
    assert sub.connects == 2
    assert "lost" in caplog.text
    assert "reconnecting" in caplog.text


async def test_a_message_whose_handler_did_not_finish_is_delivered_again_after_restart(
    broker: str, prefix: str, client_id: str
) -> None:
    started = asyncio.Event()

    async def stuck(topic: str, payload: bytes) -> None:
        started.set()
        await asyncio.Event().wait()

    first = MqttSubscriber(broker, f"{prefix}/t", stuck, client_id=client_id)
    async with running(first):
        await publish(f"{prefix}/t", b"m1", b"m2")
        async with asyncio.timeout(3):
            await started.wait()
    # Stopped mid-handler: m1 (in the handler) and m2 (queued) were never acknowledged.
    await publish(f"{prefix}/t", b"m3")
    inbox = Inbox()
    second = MqttSubscriber(broker, f"{prefix}/t", inbox, client_id=client_id)
    async with running(second):
        await inbox.wait(3)
    assert inbox.payloads == [b"m1", b"m2", b"m3"]


async def test_backs_off_while_the_broker_is_down(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger=LOGGER)
    sub = MqttSubscriber(
        f"mqtt://127.0.0.1:{free_port()}", "t", Inbox(), min_backoff=0.01, max_backoff=0.04
    )
    async with running(sub, wait_ready=False):
        await wait_until(lambda: len(caplog.records) >= 6)
    # The retry log line's arguments: host, port, delay, attempt, reason.
    retries = [
        cast("tuple[str, int, float, int, str]", r.args)
        for r in caplog.records
        if "reconnecting" in str(r.msg)
    ]
    delays = [args[2] for args in retries]
    attempts = [args[3] for args in retries]
    assert attempts[:5] == [1, 2, 3, 4, 5]
    assert 0.005 <= delays[0] <= 0.01
    assert all(0.02 <= d <= 0.04 for d in delays[3:])
    assert sub.connects == 0
    assert not sub.ready.is_set()


@pytest.mark.parametrize(
    ("topic", "expected"),
    [
        ("routeboard/technicians/42/events", "42"),
        ("routeboard/technicians/t-9/events", "t-9"),
        ("routeboard/technicians//events", None),
        ("routeboard/technicians/42/events/extra", None),
        ("routeboard/technicians/42", None),
        ("routeboard/customers/42/events", None),
    ],
)
def test_topic_technician(topic: str, expected: str | None) -> None:
    assert topic_technician(topic, "routeboard/technicians/+/events") == expected


@pytest.mark.parametrize("pattern", ["a/b", "a/+/+", "a/+/#", "a/x+/b"])
def test_topic_technician_needs_one_plus_level(pattern: str) -> None:
    with pytest.raises(ValueError, match="exactly one"):
        topic_technician("a/1/b", pattern)


async def test_url_forms() -> None:
    async def ignore(topic: str, payload: bytes) -> None: ...

    tls = MqttSubscriber("mqtts://dev%40shop:p%3Ass@broker.example", "t", ignore)
    assert (tls.host, tls.port) == ("broker.example", 8883)
    assert (tls._username, tls._password) == ("dev@shop", "p:ss")
    assert tls._tls is not None
    plain = MqttSubscriber("mqtt://127.0.0.1:1884", "t", ignore)
    assert (plain.port, plain._username, plain._tls) == (1884, None, None)
    for bad in ("http://host", "mqtt://", "host:1883"):
        with pytest.raises(ValueError, match="MQTT url"):
            MqttSubscriber(bad, "t", ignore)


async def test_memory_twin_delivers_matching_messages() -> None:
    inbox = Inbox()
    twin = MemorySubscriber("routeboard/technicians/+/events", inbox)
    task = asyncio.create_task(twin.run())
    await asyncio.wait_for(twin.ready.wait(), 1)
    await twin.publish("routeboard/technicians/3/events", b"x")
    await twin.publish("routeboard/other", b"y")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert inbox.items == [("routeboard/technicians/3/events", b"x")]
    assert not twin.ready.is_set()


async def test_instances_in_a_share_group_split_the_messages(broker: str, prefix: str) -> None:
    """ROUTEBOARD_MQTT_SHARE_GROUP: each message goes to one member, not to every instance."""
    group = f"$share/g{uuid4().hex[:8]}/{prefix}/t"
    first, second = Inbox(), Inbox()
    a, b = MqttSubscriber(broker, group, first), MqttSubscriber(broker, group, second)
    sent = [f"m{i}".encode() for i in range(40)]
    async with running(a), running(b):
        await publish(f"{prefix}/t", *sent)
        await wait_until(lambda: len(first.items) + len(second.items) >= len(sent))
        await asyncio.sleep(0.2)  # room for a duplicate, if one were coming
    assert sorted(first.payloads + second.payloads) == sorted(sent)
    assert first.payloads and second.payloads

"""Sign-in under attack: a flood, a stranger locking a user out, and concurrent guesses."""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest

from routeboard.auth import service, tokens
from routeboard.db import make_sessionmaker
from tests.conftest import PASSWORD, Env

pytestmark = pytest.mark.anyio

STRANGER = "198.51.100.7"
OWNER = "203.0.113.20"


@asynccontextmanager
async def from_address(env: Env, addr: str) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=env.app, client=(addr, 50_000))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


async def sign_in(client: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    return await client.post(
        "/api/v1/auth/token", data={"username": username, "password": password}
    )


class Checks:
    """Counts the password checks (wrapping the real ones) and where and how many at once."""

    def __init__(self, loop_thread: int) -> None:
        self.loop_thread = loop_thread
        self.lock = threading.Lock()
        self.running = self.peak = self.on_loop = self.done = 0

    def wrap(self, real: object) -> object:
        assert callable(real)

        def verify(password_hash: str | None, password: str) -> bool:
            with self.lock:
                self.running += 1
                self.peak = max(self.peak, self.running)
                self.on_loop += threading.get_ident() == self.loop_thread
            try:
                return bool(real(password_hash, password))
            finally:
                with self.lock:
                    self.running -= 1
                    self.done += 1

        return verify


@pytest.fixture
def checks(monkeypatch: pytest.MonkeyPatch) -> Checks:
    counted = Checks(threading.get_ident())
    monkeypatch.setattr(service, "verify_password", counted.wrap(tokens.verify_password))
    return counted


async def test_a_sign_in_flood_hashes_off_the_loop_two_at_a_time_and_others_are_served(
    env: Env, checks: Checks
) -> None:
    # Two slots (the default is the machine's cores less one): the bound, not the luck of a
    # one-core default, is what keeps the peak at two.
    env.app.state.settings = env.settings.model_copy(update={"password_hash_concurrency": 2})
    flood = [
        asyncio.create_task(sign_in(env.client, f"someone{i}", "wrong-password")) for i in range(8)
    ]
    health = await env.client.get("/healthz")
    checked_by_then = checks.done
    answers = await asyncio.gather(*flood)
    assert health.status_code == 200
    # Answered while most of the flood still waited for its turn to hash.
    assert checked_by_then < 8
    assert [r.status_code for r in answers] == [401] * 8
    assert checks.on_loop == 0
    assert checks.peak == 2


async def test_a_stranger_failing_from_one_address_does_not_lock_the_user_out(env: Env) -> None:
    async with from_address(env, STRANGER) as stranger, from_address(env, OWNER) as owner:
        for _ in range(5):
            assert (await sign_in(stranger, "admin", "a-guess-a-guess")).status_code == 401
        r = await sign_in(stranger, "admin", PASSWORD)
        assert (r.status_code, r.json()["error"]) == (429, "account_locked")
        assert int(r.headers["retry-after"]) > 14 * 60
        assert (await sign_in(owner, "admin", PASSWORD)).status_code == 200
        # The owner's success lifts nothing for the stranger's address.
        assert (await sign_in(stranger, "admin", PASSWORD)).status_code == 429
        env.clock.advance(minutes=16)
        assert (await sign_in(stranger, "admin", PASSWORD)).status_code == 200


async def test_failures_from_many_addresses_lock_only_addresses_the_user_never_used(
    env: Env,
) -> None:
    env.settings.login_username_max_failures = 6
    async with from_address(env, OWNER) as owner:
        assert (await sign_in(owner, "admin", PASSWORD)).status_code == 200
    for i in range(3):
        async with from_address(env, f"198.51.100.{i + 1}") as stranger:
            for _ in range(2):
                assert (await sign_in(stranger, "admin", "a-guess-a-guess")).status_code == 401
    async with from_address(env, "192.0.2.99") as new_place:
        r = await sign_in(new_place, "admin", PASSWORD)
        assert (r.status_code, r.json()["error"]) == (429, "account_locked")
    async with from_address(env, OWNER) as owner:
        assert (await sign_in(owner, "admin", PASSWORD)).status_code == 200
    # An admin can lift it at once.
    async with make_sessionmaker(env.engine)() as session, session.begin():
        await service.unlock_sign_in(session, "Admin")
    async with from_address(env, "192.0.2.99") as new_place:
        assert (await sign_in(new_place, "admin", PASSWORD)).status_code == 200


async def test_concurrent_wrong_passwords_check_no_more_than_the_limit_and_never_fail(
    env: Env, checks: Checks
) -> None:
    answers = await asyncio.gather(
        *(sign_in(env.client, "dispatcher", "wrong-password") for _ in range(10))
    )
    assert sorted(r.status_code for r in answers) == [401] * 5 + [429] * 5
    assert {r.json()["error"] for r in answers} == {"invalid_credentials", "account_locked"}
    assert checks.done == 5
    assert (await sign_in(env.client, "dispatcher", PASSWORD)).status_code == 429


async def page_sign_in(client: httpx.AsyncClient, username: str, password: str) -> int:
    form = (await client.get("/login")).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert token is not None
    data = {"username": username, "password": password, "csrf_token": token[1], "next": "/"}
    return (await client.post("/login", data=data)).status_code


async def test_the_sign_in_page_locks_the_strangers_address_not_the_user(env: Env) -> None:
    async with from_address(env, STRANGER) as stranger, from_address(env, OWNER) as owner:
        for _ in range(5):
            assert await page_sign_in(stranger, "admin", "a-guess-a-guess") == 401
        assert await page_sign_in(stranger, "admin", PASSWORD) == 429
        assert await page_sign_in(owner, "admin", PASSWORD) == 303

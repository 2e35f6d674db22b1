"""Several instances on one PostgreSQL and one Redis (PostgreSQL only: see conftest.py)."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from routeboard.auth.service import digest
from routeboard.auth.tokens import issue_token
from routeboard.clock import system_clock
from routeboard.models import AuthSession
from tests.conftest import JWT_KEY, REQUIRE_SERVICES, Env
from tests.events.live import free_port, sse, wait_ready
from tests.flows import to_state

pytestmark = pytest.mark.anyio
REDIS = ("127.0.0.1", 6379)


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


@contextmanager
def instance(database_url: str, data_dir: Path) -> Iterator[str]:
    """A separate `routeboard serve` process: what a load balancer would have behind it."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROUTEBOARD_")}
    env |= {
        "ROUTEBOARD_DATABASE_URL": database_url,
        "ROUTEBOARD_REDIS_URL": f"redis://{REDIS[0]}:{REDIS[1]}/0",
        "ROUTEBOARD_JWT_SECRET": JWT_KEY,
        "ROUTEBOARD_DATA_DIR": str(data_dir),
    }
    cmd = [sys.executable, "-m", "routeboard.cli", "serve", "--port", str(port)]
    with subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) as proc:
        try:
            base = f"http://127.0.0.1:{port}"
            wait_ready(base, proc)
            yield base
        finally:
            proc.terminate()
            proc.wait(timeout=10)


async def test_a_change_through_one_instance_reaches_a_client_of_another(
    env: Env, tmp_path: Path
) -> None:
    assert env.settings.effective_database_url.startswith("postgresql")
    if not _reachable(*REDIS):
        if REQUIRE_SERVICES:
            pytest.fail(
                "Redis is not reachable at 127.0.0.1:6379 and ROUTEBOARD_REQUIRE_SERVICES=1"
            )
        pytest.skip("Redis is not reachable at 127.0.0.1:6379")
    jid = await to_state(env, "scheduled")
    # The instances are real processes on the real clock: a session and a token minted now.
    now = system_clock()
    async with env.app.state.sessionmaker() as session, session.begin():
        session.add(
            AuthSession(
                id="scaleout-dispatcher", user_id=env.cast.user_ids["dispatcher"], kind="api",
                secret_hash=digest("unused"), created_at=now, expires_at=now + timedelta(hours=1),
            )
        )  # fmt: skip
    token = issue_token(
        JWT_KEY, user_id=env.cast.user_ids["dispatcher"], role="dispatcher", token_version=0,
        session_id="scaleout-dispatcher", minutes=10, now=now,
    )  # fmt: skip
    headers = {"Authorization": f"Bearer {token}"}
    url = env.settings.effective_database_url
    with instance(url, tmp_path / "a") as a, instance(url, tmp_path / "b") as b:
        async with httpx.AsyncClient(timeout=10) as client:
            async with sse(client, f"{b}/api/v1/stream", headers) as stream:
                assert (await stream.next()).event == "snapshot"
                await asyncio.sleep(0.3)  # B's Redis subscription is up before A publishes
                r = await client.patch(
                    f"{a}/api/v1/jobs/{jid}", json={"notes": "via A"}, headers=headers
                )
                assert r.status_code == 200, r.text
                msg = await stream.next(timeout=3)
                assert (msg.event, msg.data["job_id"]) == ("job.updated", jid)

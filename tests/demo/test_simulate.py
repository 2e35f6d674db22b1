"""The demo simulator moves the seeded day forward through the real API."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from routeboard.app import create_app
from routeboard.audit.service import verify_all_chains
from routeboard.config import Settings
from routeboard.demo.service import reset_and_seed
from routeboard.demo.simulate import Simulator
from tests.events.live import serving, sse

pytestmark = pytest.mark.anyio


async def test_simulated_technicians_tap_through_the_day_and_the_board_sees_it(
    tmp_path: Path,
) -> None:
    settings = Settings(data_dir=tmp_path, jwt_secret="simulator-test-key-0123456789abcdef012345")
    await reset_and_seed(settings)
    app = create_app(settings)
    async with serving(app) as base, httpx.AsyncClient(base_url=base, timeout=10) as client:
        sim = Simulator(
            client, settings.tz, __import__("datetime").datetime.now(settings.tz).date(), speed=3000
        )
        await sim.sign_in()
        login = await client.post(
            "/api/v1/auth/token", data={"username": "dispatch", "password": "routeboard-demo"}
        )
        board = {"Authorization": f"Bearer {login.json()['access_token']}"}
        async with sse(client, "/api/v1/stream", board, date=sim.day.isoformat()) as stream:
            assert (await stream.next()).event == "snapshot"
            for _ in range(20):
                await sim.step()
                await asyncio.sleep(0.1)
                if sim.taps >= 3:
                    break
            assert sim.taps >= 3
            seen = await stream.next(timeout=3)
            assert seen.event.startswith(("job.", "technician."))
        # Every phone reported its position with its own GPS key; none was refused.
        r = await client.get("/api/v1/availability", headers=board)
        assert all(t["position"] is not None for t in r.json())
        assert len(r.json()) == len(sim.technicians)
    async with app.state.sessionmaker() as session:
        assert all(r.verified for r in await verify_all_chains(session))
        rejected = await session.execute(text("SELECT count(*) FROM rejected_reports"))
        assert rejected.scalar_one() == 0
    await app.state.engine.dispose()

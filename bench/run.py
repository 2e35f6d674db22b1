"""Benchmarks of the foundation's hot paths, each with a baseline measured in the same run.

    make bench            (or: .venv/bin/python bench/run.py)

Figures are medians over repeats; ratios compare against the named baseline so they survive a
slower or faster machine.
"""

from __future__ import annotations

import asyncio
import hashlib
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from routeboard.app import create_app
from routeboard.audit.chain import GENESIS, canonical, entry_hash
from routeboard.auth.tokens import hash_password, issue_token
from routeboard.config import Settings
from routeboard.db import make_engine, make_sessionmaker
from routeboard.jobs.states import Action, GuardContext, State, decide
from routeboard.migrate import upgrade
from routeboard.models import AuthSession, Customer, Technician, User

REPEATS = 5
ALL_DAY = ["00:00", "23:59"]  # the benchmark books around the clock


def per_call(fn: Callable[[], object], n: int) -> float:
    """Median seconds per call of ``fn`` over REPEATS runs of ``n`` calls."""
    runs = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        runs.append((time.perf_counter() - start) / n)
    return statistics.median(runs)


def report(name: str, seconds: float, baseline_name: str, baseline: float) -> None:
    print(
        f"{name:<44} {seconds * 1e6:10.2f} µs   "
        f"baseline {baseline_name:<28} {baseline * 1e6:8.2f} µs   ratio {seconds / baseline:6.2f}x"
    )


def bench_pure() -> None:
    content: dict[str, Any] = {
        "job_id": 1, "seq": 1, "action": "job.start_travel", "actor_id": 3, "actor_name": "marco",
        "actor_role": "technician", "at": datetime(2026, 12, 1, 15, tzinfo=UTC),
        "from_state": "scheduled", "to_state": "en_route", "reason": None,
        "client_addr": "10.0.0.7", "user_agent": "Mozilla/5.0", "lat": 33.1, "lon": -96.8,
        "data": {"sha256": "ab" * 32},
    }  # fmt: skip
    raw = canonical(content)
    report(
        "audit entry hash (canonical JSON + SHA-256)",
        per_call(lambda: entry_hash(GENESIS, content), 20_000),
        "SHA-256 of the same bytes",
        per_call(lambda: hashlib.sha256(raw).hexdigest(), 20_000),
    )
    ctx = GuardContext(
        actor_role="technician", actor_technician_id=1, assigned_technician_id=1,
        quote_status="approved", before_photos=1, after_photos=1, has_signature=True,
    )  # fmt: skip
    table = {(State.IN_PROGRESS, Action.COMPLETE): State.COMPLETED}
    report(
        "decide(in_progress, complete), 5 guards",
        per_call(lambda: decide(State.IN_PROGRESS, Action.COMPLETE, ctx), 100_000),
        "bare dict lookup",
        per_call(lambda: table[State.IN_PROGRESS, Action.COMPLETE], 100_000),
    )


async def bench_api(tmp: Path) -> None:
    settings = Settings(data_dir=tmp, jwt_secret="bench-key-0123456789abcdef0123456789")
    engine = make_engine(settings.effective_database_url)
    await upgrade(engine)
    async with make_sessionmaker(engine)() as session:
        tech = Technician(
            name="Bench Tech", phone="+1 214 555 0100", email="b@example.com",
            skills=["chip_repair"], home_address="Plano", home_lat=33.0, home_lon=-96.7,
            working_hours=dict.fromkeys(("mon", "tue", "wed", "thu", "fri", "sat", "sun"), ALL_DAY),
            created_at=datetime.now(UTC),
        )  # fmt: skip
        now = datetime.now(UTC)
        customer = Customer(name="Bench Customer", phone="+1 214 555 0101", created_at=now)
        session.add_all([tech, customer])
        await session.flush()
        user = User(
            username="bench", password_hash=hash_password("benchmark"), role="dispatcher",
            created_at=now,
        )  # fmt: skip
        session.add(user)
        await session.flush()
        session.add(
            AuthSession(
                id="bench", user_id=user.id, kind="api", secret_hash="-",
                created_at=datetime.now(UTC), expires_at=datetime.now(UTC) + timedelta(hours=1),
            )
        )  # fmt: skip
        await session.commit()
        tech_id, customer_id, user_id = tech.id, customer.id, user.id
    await engine.dispose()

    app = create_app(settings)
    token = issue_token(
        settings.jwt_secret or "", user_id=user_id, role="dispatcher", token_version=0,
        session_id="bench", minutes=60, now=datetime.now(UTC),
    )  # fmt: skip
    headers = {"Authorization": f"Bearer {token}"}
    job_body = {
        "customer_id": customer_id, "service_type": "chip_repair", "duration_minutes": 30,
        "site": {"address": "Plano", "lat": 33.0, "lon": -96.7},
        "vehicle": {"year": 2020, "make": "Ford", "model": "F-150", "vin": "1HGCM82633A004352"},
    }  # fmt: skip
    quote = {"lines": [{"kind": "fee", "description": "x", "quantity": 1, "unit_price_cents": 9}]}
    n = 100

    async def timed(coro_fn: Callable[[int], Any]) -> float:
        samples = []
        for i in range(n):
            start = time.perf_counter()
            await coro_fn(i)
            samples.append(time.perf_counter() - start)
        return statistics.median(samples)

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        ids: list[int] = []

        async def create(_: int) -> None:
            r = await client.post("/api/v1/jobs", json=job_body, headers=headers)
            ids.append(r.json()["id"])
            await client.put(f"/api/v1/jobs/{ids[-1]}/quote", json=quote, headers=headers)
            await client.post(f"/api/v1/jobs/{ids[-1]}/quote/approve", headers=headers)

        async def healthz(_: int) -> None:
            await client.get("/healthz")

        async def schedule(i: int) -> None:
            start = datetime(2026, 12, 1, 14, tzinfo=UTC) + timedelta(hours=i)
            r = await client.post(
                f"/api/v1/jobs/{ids[i]}/schedule",
                json={"technician_id": tech_id, "start": start.isoformat()},
                headers=headers,
            )
            assert r.status_code == 200, r.text

        async def travel(i: int) -> None:
            r = await client.post(
                f"/api/v1/jobs/{ids[i]}/transitions",
                json={"action": "start_travel"},
                headers=headers,
            )
            assert r.status_code == 200, r.text

        async def audit(i: int) -> None:
            r = await client.get(f"/api/v1/jobs/{ids[i]}/audit", headers=headers)
            assert r.json()["verified"]

        await timed(create)
        base = await timed(healthz)
        report(
            "POST schedule (SQLite, guards+audit+outbox)",
            await timed(schedule),
            "GET /healthz",
            base,
        )
        report("POST transition start_travel (SQLite)", await timed(travel), "GET /healthz", base)
        report("GET audit with verification, 6 entries", await timed(audit), "GET /healthz", base)
    await app.state.engine.dispose()


def main() -> None:
    print(f"Routeboard benchmarks — medians of {REPEATS} runs (pure) or 100 requests (API)\n")
    bench_pure()
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(bench_api(Path(tmp)))


if __name__ == "__main__":
    main()

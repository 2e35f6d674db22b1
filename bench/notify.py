"""Customer messaging benchmarks, each with a baseline measured in the same run.

    make bench            (or: .venv/bin/python bench/notify.py [--db postgresql])

1. The outbox worker draining 2,000 messages through an in-memory channel (claim, render with
   a tracking link, send, record the attempt). Baseline: the least any at-least-once sender
   must do per message, marking it sent in its own committed transaction.
2. One running-late pass over a shop of 20 technicians with 8 jobs each (re-project every
   day, compare with what customers were told). Baseline: the projection alone (the board's
   ``GET /api/v1/schedule`` work for the same day).

There is no target in the issue for either; the figures show what the worker and the
once-a-minute check cost, and the process always exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from routeboard.config import Settings
from routeboard.db import make_engine, make_sessionmaker
from routeboard.deps import system_actor
from routeboard.migrate import upgrade
from routeboard.models import Customer, Job, OutboxMessage, Technician, Vehicle
from routeboard.notify.channels import Channel, MemoryChannel
from routeboard.notify.service import Worker, notify_running_late
from routeboard.schedule.service import Planner, day_schedule
from routeboard.travel.service import EstimateProvider

TZ = ZoneInfo("America/Chicago")
DAY = date(2026, 12, 1)
KEY = "bench-notify-key-0123456789abcdef0123456789"
MESSAGES = int(os.environ.get("BENCH_MESSAGES", "2000"))
TECHNICIANS, JOBS_EACH = 20, 8
REPEATS = int(os.environ.get("BENCH_REPEATS", "5"))
CITIES = [(33.1507, -96.8236), (33.1972, -96.6398), (33.0198, -96.6989), (32.9483, -96.7299),
          (32.9126, -96.6389), (32.7668, -96.5992), (32.7767, -96.7970)]  # fmt: skip
VIN = "1HGCV1F34KA000001"


def local(hour: int, minute: int = 0) -> datetime:
    return datetime.combine(DAY, clock(hour, minute), tzinfo=TZ).astimezone(UTC)


async def seed(maker: async_sessionmaker[AsyncSession]) -> list[int]:
    """The shop's day: each technician's 8 jobs of 45 minutes, every 90 minutes from 08:00,
    hopping between cities; everyone's first job runs long (still in progress at 09:40)."""
    async with maker() as session, session.begin():
        customer = Customer(
            name="Bench Customer", phone="+12145550101", email="bench@example.com",
            preferred_channel="email", sms_consent=True, created_at=local(7),
        )  # fmt: skip
        session.add(customer)
        await session.flush()
        vehicle = Vehicle(customer_id=customer.id, year=2020, make="Honda", model="Civic", vin=VIN)
        session.add(vehicle)
        await session.flush()
        ids: list[int] = []
        for t in range(TECHNICIANS):
            home = CITIES[t % len(CITIES)]
            tech = Technician(
                name=f"Tech {t}", phone="+12145550100", email=f"t{t}@example.com",
                skills=["windshield_replacement"], home_address="Plano, TX", home_lat=home[0],
                home_lon=home[1], working_hours={"tue": ["07:00", "19:00"]}, created_at=local(7),
            )  # fmt: skip
            session.add(tech)
            await session.flush()
            for j in range(JOBS_EACH):
                site = CITIES[(t + j) % len(CITIES)]
                start = local(8) + timedelta(minutes=90 * j)
                job = Job(
                    state="in_progress" if j == 0 else "scheduled", customer_id=customer.id,
                    vehicle_id=vehicle.id, service_type="windshield_replacement",
                    site_address="Bench site", site_lat=site[0], site_lon=site[1],
                    duration_minutes=45, technician_id=tech.id, scheduled_start=start,
                    scheduled_end=start + timedelta(minutes=45),
                    labor_started_at=start if j == 0 else None, created_at=local(7),
                    updated_at=local(7),
                )  # fmt: skip
                session.add(job)
                await session.flush()
                ids.append(job.id)
    return ids


async def queue(maker: async_sessionmaker[AsyncSession], job_ids: list[int], n: int) -> None:
    async with maker() as session, session.begin():
        first = await session.get(Job, job_ids[0])
        assert first is not None
        session.add_all(
            OutboxMessage(
                kind="booking_confirmation", job_id=job_ids[i % len(job_ids)],
                customer_id=first.customer_id, channel="email", status="pending",
                payload={"technician_first_name": "Marco"}, created_at=local(7),
            )
            for i in range(n)
        )  # fmt: skip


async def bench_worker(engine: AsyncEngine, settings: Settings, job_ids: list[int]) -> None:
    maker = make_sessionmaker(engine)
    worker_runs, plain_runs = [], []
    for _ in range(REPEATS):
        await queue(maker, job_ids, MESSAGES)
        email = MemoryChannel("email")
        channels: dict[str, Channel] = {"sms": MemoryChannel("sms"), "email": email}
        worker = Worker(
            maker, channels, settings, clock=lambda: local(9), key=KEY, batch=50,
            jitter=lambda: 0.5,
        )  # fmt: skip
        start = time.perf_counter()
        while await worker.run_once():
            pass
        worker_runs.append(time.perf_counter() - start)
        assert len(email.sent) == MESSAGES
        # Baseline: the same number of rows, each marked sent in its own transaction.
        await queue(maker, job_ids, MESSAGES)
        async with maker() as session:
            pending = (
                (await session.execute(text("SELECT id FROM outbox WHERE status = 'pending'")))
                .scalars()
                .all()
            )
        start = time.perf_counter()
        for message_id in pending:
            async with maker() as session, session.begin():
                await session.execute(
                    update(OutboxMessage)
                    .where(OutboxMessage.id == message_id)
                    .values(status="sent", sent_at=local(9))
                )
        plain_runs.append(time.perf_counter() - start)
    w, p = statistics.median(worker_runs), statistics.median(plain_runs)
    print(
        f"worker: {MESSAGES / w:8.0f} messages/s ({w / MESSAGES * 1e3:.2f} ms each)   "
        f"baseline mark-sent-per-transaction {MESSAGES / p:8.0f}/s   ratio {p / w:.3f}x "
        "(worker throughput / baseline)"
    )


async def bench_lateness(engine: AsyncEngine, settings: Settings) -> None:
    maker = make_sessionmaker(engine)
    planner = Planner(EstimateProvider(TZ), TZ)
    now = local(9, 40)
    passes, projections, told = [], [], 0
    for i in range(REPEATS + 1):
        async with maker() as session:
            start = time.perf_counter()
            jobs = await notify_running_late(session, planner=planner, settings=settings, now=now)
            elapsed = time.perf_counter() - start
            await session.commit()
        told += len(jobs)
        async with maker() as session:
            actor = system_actor("bench", at=now)
            start = time.perf_counter()
            await day_schedule(session, DAY, actor=actor, planner=planner)
            projected = time.perf_counter() - start
        if i:  # the first pass also warms the travel cache and queues the messages
            passes.append(elapsed)
            projections.append(projected)
    lp, pp = statistics.median(passes), statistics.median(projections)
    print(
        f"running-late pass, {TECHNICIANS} technicians x {JOBS_EACH} jobs: {lp * 1e3:7.1f} ms   "
        f"baseline day projection {pp * 1e3:7.1f} ms   ratio {lp / pp:.3f}x   "
        f"({told} customers told, all in the first pass)"
    )


PG = "postgresql+asyncpg://postgres@127.0.0.1:5432"


async def admin(statement: str) -> None:
    engine = make_engine(f"{PG}/postgres", isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        await conn.execute(text(statement))
    await engine.dispose()


async def main(db: str) -> None:
    name = f"routeboard_bench_notify_{os.getpid()}"
    with tempfile.TemporaryDirectory() as tmp:
        if db == "postgresql":  # a database of its own: never the tests' one
            await admin(f'CREATE DATABASE "{name}"')
            url = f"{PG}/{name}"
        else:
            url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.sqlite3'}"
        engine = make_engine(url)
        try:
            settings = Settings(database_url=url, data_dir=Path(tmp), quiet_hours="")
            await upgrade(engine)
            job_ids = await seed(make_sessionmaker(engine))
            print(f"database: {db}")
            await bench_worker(engine, settings, job_ids)
            await bench_lateness(engine, settings)
        finally:
            await engine.dispose()
            if db == "postgresql":
                await admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    asyncio.run(main(parser.parse_args().db))

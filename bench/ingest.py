"""Availability ingestion: batched and single reports over HTTP, and ingest -> board receipt.

    make bench            (or: .venv/bin/python bench/ingest.py --help)

Targets from the availability issue, each printed with PASS/FAIL and a baseline from this run:

* batched HTTP ingestion (two senders, 1,000-report batches), durable on SQLite: >= 20,000
  reports/s, and >= 0.3x a plain batched insert of the same rows into the same table with no
  service in between (PostgreSQL reported with ``--db postgresql``);
* single-report ingestion over HTTP: requests/s and p99 latency (reported);
* ingest -> SSE receipt on a dispatcher's board: p99 <= 100 ms at 500 reports/s.

The server is ``uvicorn --factory stream_server:app`` (one worker, uvloop, httptools) from
bench/stream.py, on a temp SQLite file; the client is httpx in this process.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import insert

from routeboard.auth.tokens import hash_password, issue_token
from routeboard.db import make_engine, make_sessionmaker
from routeboard.migrate import upgrade
from routeboard.models import AuthSession, AvailabilityEvent, Technician, User

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stream import (  # a sibling script, not a package
    JWT,
    cpu_seconds,
    database,
    pct,
    routeboard_server,
    say,
    summary,
    verdict,
)

# Reports are stamped in the past: the server refuses any stamped ahead of its own clock.
BASE = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)


async def seed(url: str, technicians: int) -> tuple[list[int], str]:
    engine = make_engine(url)
    await upgrade(engine)
    async with make_sessionmaker(engine)() as session:
        now = datetime.now(UTC)
        techs = [
            Technician(
                name=f"Tech {i}", phone="+1 214 555 0100", email=f"t{i}@example.com", skills=[],
                home_address="Plano", home_lat=33.0, home_lon=-96.7, working_hours={},
                created_at=now,
            )
            for i in range(technicians)
        ]  # fmt: skip
        admin = User(
            username="admin", password_hash=hash_password("benchmark"), role="admin",
            created_at=now,
        )  # fmt: skip
        session.add_all([*techs, admin])
        await session.flush()
        session.add(
            AuthSession(
                id="bench", user_id=admin.id, kind="api", secret_hash="-", created_at=now,
                expires_at=now + timedelta(hours=2),
            )
        )  # fmt: skip
        await session.commit()
        ids, admin_id = [t.id for t in techs], admin.id
    await engine.dispose()
    token = issue_token(
        JWT, user_id=admin_id, role="admin", token_version=0, session_id="bench", minutes=120,
        now=datetime.now(UTC),
    )  # fmt: skip
    return ids, token


async def integration_key(base: str, token: str) -> str:
    """A new integration key, made by the admin through the API."""
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base, timeout=60, headers=headers) as admin:
        r = await admin.post("/api/v1/api-keys", json={"name": "b", "scope": "integration"})
        r.raise_for_status()
        return str(r.json()["key"])


def reports(techs: list[int], start: int, n: int, tag: str) -> list[dict[str, Any]]:
    """``n`` location reports spread over the technicians, each a second after the last."""
    out = []
    for i in range(start, start + n):
        at = BASE - timedelta(hours=1) + timedelta(milliseconds=i)
        out.append(
            {"event_id": f"{tag}{i}", "technician_id": techs[i % len(techs)], "kind": "location",
             "lat": 33.0 + (i % 1000) / 1e5, "lon": -96.7, "accuracy_m": 8, "speed_mps": 12.0,
             "recorded_at": at.isoformat(), "source": "gps"}
        )  # fmt: skip
    return out


async def batched(
    client: httpx.AsyncClient, techs: list[int], batches: int, size: int, run: int
) -> float:
    """``batches`` batches from two senders at once (an integration pipelines its uploads);
    bodies are serialised before the clock starts, so the server is what is timed."""
    bodies = [
        json.dumps({"events": reports(techs, (run * batches + b) * size, size, "b")}).encode()
        for b in range(batches)
    ]
    queue = iter(bodies)

    async def sender() -> None:
        for body in queue:
            r = await client.post(
                "/api/v1/ingest/events", content=body, headers={"content-type": "application/json"}
            )
            r.raise_for_status()
            assert r.json()["accepted"] == size, r.text[:300]

    start = time.perf_counter()
    await asyncio.gather(sender(), sender())
    return time.perf_counter() - start


async def plain_insert(url: str, techs: list[int], batches: int, size: int, run: int) -> float:
    """The same rows into the same table: one executemany and commit per batch, nothing else."""
    engine = make_engine(url)
    received = datetime.now(UTC)
    rows = [
        {**r, "recorded_at": datetime.fromisoformat(r["recorded_at"]), "received_at": received,
         "attributes": {}, "applied": True, "event_id": f"p{run}{r['event_id']}"}
        for r in reports(techs, 0, batches * size, "x")
    ]  # fmt: skip
    start = time.perf_counter()
    for b in range(batches):
        async with engine.begin() as conn:
            await conn.execute(insert(AvailabilityEvent), rows[b * size : (b + 1) * size])
    took = time.perf_counter() - start
    await engine.dispose()
    return took


async def singles(client: httpx.AsyncClient, techs: list[int], n: int, workers: int) -> list[float]:
    took: list[float] = []
    counter = iter(range(n))

    async def worker() -> None:
        for i in counter:
            started = time.perf_counter()
            r = await client.post(
                "/api/v1/ingest/events", json={"events": reports(techs, 5_000_000 + i, 1, "s")}
            )
            r.raise_for_status()
            took.append(time.perf_counter() - started)

    await asyncio.gather(*(worker() for _ in range(workers)))
    return took


async def to_board(
    base: str, token: str, client: httpx.AsyncClient, techs: list[int], rate: int, seconds: float
) -> tuple[list[float], int, int]:
    """Reports at ``rate``/s in batches of one report per technician every 1/(rate/len) s; the
    time from each batch's send to the board receiving its technician.location events."""
    per_batch = len(techs)
    interval = per_batch / rate
    sent_at: dict[datetime, float] = {}
    latencies: list[float] = []
    received = 0
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        httpx.AsyncClient(base_url=base, timeout=30, headers=headers) as board,
        board.stream("GET", "/api/v1/stream") as stream,
    ):
        lines = stream.aiter_lines()
        async for line in lines:
            if line.startswith("event: snapshot"):
                break

        async def read() -> None:
            nonlocal received
            async for line in lines:
                if line.startswith("data: ") and '"technician.location"' in line:
                    key = datetime.fromisoformat(json.loads(line[6:])["recorded_at"])
                    if key in sent_at:
                        latencies.append(time.perf_counter() - sent_at[key])
                        received += 1

        reader = asyncio.create_task(read())
        batches = int(seconds / interval)
        start = time.perf_counter()
        for b in range(batches):
            delay = start + b * interval - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            items = reports(techs, 10_000_000 + b * per_batch, per_batch, "r")
            # Every report of a batch is its technician's newest: one event each on the board.
            stamp = time.perf_counter()
            for item in items:
                sent_at[datetime.fromisoformat(item["recorded_at"])] = stamp
            r = await client.post("/api/v1/ingest/events", json={"events": items})
            r.raise_for_status()
        await asyncio.sleep(1.0)
        reader.cancel()
    return latencies, received, batches * per_batch


async def run(args: argparse.Namespace, url: str, tmp: Path) -> None:
    if True:  # the database is made (and dropped) by main(), outside the event loop
        techs, token = await seed(url, args.technicians)
        with routeboard_server(tmp, url) as (port, proc):
            base = f"http://127.0.0.1:{port}"
            key = await integration_key(base, token)
            async with httpx.AsyncClient(
                base_url=base, timeout=60, headers={"X-API-Key": key}
            ) as client:
                await batched(client, techs, 2, args.batch, 1000)  # warm-up
                # Each HTTP run is paired with a plain-insert run right after it, and the ratio
                # is taken pair by pair: a shared machine's speed drifts between minutes.
                runs, cpus, baseline_runs = [], [], []
                for n in range(args.repeats):
                    cpu0 = cpu_seconds([proc.pid])
                    runs.append(await batched(client, techs, args.batches, args.batch, n))
                    cpus.append(cpu_seconds([proc.pid]) - cpu0)
                    db = url if args.db != "sqlite" else f"sqlite+aiosqlite:///{tmp / f'p{n}.db'}"
                    if args.db == "sqlite":
                        await seed(db, args.technicians)  # the same technicians (foreign key)
                    baseline_runs.append(await plain_insert(db, techs, args.batches, args.batch, n))
                total = args.batches * args.batch
                http_rate = total / statistics.median(runs)
                cpu_us = statistics.median(cpus) / total * 1e6
                ratio = statistics.median(b / r for r, b in zip(runs, baseline_runs, strict=True))
                single = await singles(client, techs, args.singles, args.workers)
                lat, got, want = await to_board(
                    base, token, client, techs[: args.board_techs], args.board_rate, args.seconds
                )
    plain_rate = args.batches * args.batch / statistics.median(baseline_runs)
    say(
        f"batched: {args.batches} x {args.batch} reports over HTTP, median of {args.repeats}: "
        f"{http_rate:,.0f} reports/s ({cpu_us:.1f} µs server CPU each); plain batched insert of "
        f"the same rows: {plain_rate:,.0f} rows/s; median of the paired ratios {ratio:.3f}"
    )
    single_rate = len(single) / max(sum(single) / args.workers, 1e-9)
    say(
        f"single reports: {len(single)} requests from {args.workers} clients, "
        f"{single_rate:,.0f} requests/s, p50 {pct(single, 0.5) * 1e3:.1f} ms, "
        f"p99 {pct(single, 0.99) * 1e3:.1f} ms"
    )
    p99 = pct(lat, 0.99)
    say(
        f"ingest -> board: {want} reports at {args.board_rate}/s in batches of "
        f"{args.board_techs}; {got} technician.location events received; "
        f"p50 {pct(lat, 0.5) * 1e3:.1f} ms, p99 {p99 * 1e3:.1f} ms"
    )
    db = "SQLite" if args.db == "sqlite" else "PostgreSQL"
    verdict(
        f"batched HTTP ingestion on {db} ≥ 20,000 reports/s, ≥ 0.3x plain insert",
        http_rate >= 20_000 and ratio >= 0.3,
        f"{http_rate:,.0f}/s",
        f"plain insert {plain_rate:,.0f}/s",
        ratio,
    )
    verdict(
        "single reports over HTTP (report)",
        None,
        f"{single_rate:,.0f}/s p99 {pct(single, 0.99) * 1e3:.0f} ms",
        "n/a",
        None,
    )
    verdict(
        f"ingest → board p99 ≤ 100 ms at {args.board_rate}/s",
        got >= want and not math.isnan(p99) and p99 <= 0.1,
        f"p99 {p99 * 1e3:.0f} ms ({got}/{want})",
        "n/a",
        None,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--pg-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432")
    parser.add_argument("--technicians", type=int, default=20)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--singles", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--board-rate", type=int, default=500)
    parser.add_argument("--board-techs", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=5)
    args = parser.parse_args()
    say(f"Routeboard ingestion benchmarks ({args.db})\n")
    with tempfile.TemporaryDirectory(prefix="ingest-") as raw, database(args, Path(raw)) as url:
        asyncio.run(run(args, url, Path(raw)))
    summary()


if __name__ == "__main__":
    main()

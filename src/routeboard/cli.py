"""The ``routeboard`` command: serve, demo, migrate, users, audit, docs."""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from typing import Annotated

import typer

from routeboard.config import Settings

app = typer.Typer(
    help="Routeboard: dispatch and live technician availability.", no_args_is_help=True
)
users_app = typer.Typer(help="Manage users.", no_args_is_help=True)
audit_app = typer.Typer(help="Inspect the audit trail.", no_args_is_help=True)
app.add_typer(users_app, name="users")
app.add_typer(audit_app, name="audit")


def _quiet_http_client_logs() -> None:
    # httpx logs every request URL at INFO; Google's carries the API key.
    logging.getLogger("httpx").setLevel(logging.WARNING)


def _app_logs() -> None:
    """Routeboard's own INFO logs on stderr, beside uvicorn's: the log channel's customer
    messages (with their tracking links) among them."""
    from routeboard.logs import redact_server_logs

    _quiet_http_client_logs()
    redact_server_logs()
    logger = logging.getLogger("routeboard")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s:     %(name)s: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


async def _migrate(settings: Settings) -> None:
    from routeboard.db import make_engine
    from routeboard.migrate import upgrade

    if settings.effective_database_url.startswith("sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.effective_database_url)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()


@app.command()
def migrate() -> None:
    """Apply database migrations."""
    settings = Settings()
    asyncio.run(_migrate(settings))
    typer.echo(f"database is up to date: {_safe_url(settings)}")


def _safe_url(settings: Settings) -> str:
    from sqlalchemy.engine import make_url

    return make_url(settings.effective_database_url).render_as_string(hide_password=True)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8000,
) -> None:
    """Apply migrations, then serve the API and pages."""
    import uvicorn

    from routeboard.app import create_app

    settings = Settings()
    _app_logs()
    asyncio.run(_migrate(settings))
    typer.echo(f"Routeboard on http://{host}:{port}  (database: {_safe_url(settings)})")
    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        # Behind a proxy on another host the client's address (the sign-in throttle's key) is
        # read from X-Forwarded-For, believed only from the proxies listed.
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        # Live streams never finish on their own: give them a few seconds, then close them.
        timeout_graceful_shutdown=5,
    )


@app.command()
def worker(
    every: Annotated[float, typer.Option(help="Seconds between passes over the outbox")] = 2.0,
) -> None:
    """Send customer messages from the outbox and watch for technicians running late (run
    several: each message is claimed once, each customer told once). Set
    ROUTEBOARD_NOTIFY_WORKER=false on the web instances when these run."""
    from routeboard.app import create_app, send_messages

    settings = Settings()
    _app_logs()
    app = create_app(settings)
    typer.echo(f"Routeboard message worker (database: {_safe_url(settings)})")

    async def main() -> None:
        try:
            await send_messages(app, every)
        finally:
            await app.state.engine.dispose()

    asyncio.run(main())


@app.command()
def demo(
    host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8000,
    data_dir: Annotated[Path, typer.Option(help="Where the demo database lives")] = Path(
        "data/demo"
    ),
    seed_only: Annotated[bool, typer.Option(help="Seed and exit without serving")] = False,
    speed: Annotated[
        float, typer.Option(help="Simulated minutes per real minute; 0 for no simulation")
    ] = 30.0,
) -> None:
    """Create a fresh demo database for a Dallas–Fort Worth day and serve it, with technicians
    working through the day."""
    import uvicorn

    from routeboard.app import create_app
    from routeboard.clock import system_clock
    from routeboard.demo.service import DemoDay, reset_and_seed

    settings = Settings(
        data_dir=data_dir,
        database_url=None,
        public_url=f"http://{host}:{port}",
        payment_provider="memory",
        shop_phone=os.environ.get("ROUTEBOARD_SHOP_PHONE", "+1 214 555 0100"),
    )
    # Whatever the real date and hour, the demo lives on a working day of its own: its clock
    # starts at that day's "now", so the board, the phones and every rule agree on it.
    demo_day = DemoDay.near(system_clock(), settings.tz)
    logins = asyncio.run(reset_and_seed(settings, day=demo_day.day))
    typer.echo(demo_day.note())
    typer.echo(f"Demo database: {settings.effective_database_url}")
    typer.echo(f"API docs:      http://{host}:{port}/docs")
    typer.echo(f"Health:        http://{host}:{port}/healthz")
    typer.echo("Demo logins (username / password / role):")
    for username, password, role in logins:
        typer.echo(f"  {username:<12} {password:<22} {role}")
    if seed_only:
        return
    _app_logs()
    if speed > 0:
        typer.echo(f"Simulating the technicians' day at {speed:g}x (--speed 0 to stop it)")
        _simulate_in_background(f"http://{host}:{port}", settings, speed)
    app = create_app(settings, clock=demo_day.clock)
    app.state.demo_note = demo_day.note()
    uvicorn.run(
        app,
        host=host,
        port=port,
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        timeout_graceful_shutdown=5,
    )


def _simulate_in_background(url: str, settings: Settings, speed: float) -> None:
    import threading

    def main() -> None:
        asyncio.run(_simulate_when_ready(url, settings, speed))

    threading.Thread(target=main, name="demo-simulator", daemon=True).start()


async def _simulate_when_ready(
    url: str,
    settings: Settings,
    speed: float,
    gps_every: float = 2.0,
    mqtt_url: str | None = None,
) -> None:
    import httpx

    from routeboard.demo.simulate import run

    async with httpx.AsyncClient() as client:
        for _ in range(100):
            try:
                if (await client.get(f"{url}/readyz")).status_code == 200:
                    break
            except httpx.TransportError:
                await asyncio.sleep(0.2)
    await run(
        url, tz=settings.tz, speed=speed, gps_every=gps_every, mqtt_url=mqtt_url,
        mqtt_topic=settings.mqtt_topic,
    )  # fmt: skip


@app.command()
def simulate(
    url: Annotated[str, typer.Option(help="The Routeboard to drive")] = "http://127.0.0.1:8000",
    speed: Annotated[float, typer.Option(help="Simulated minutes per real minute")] = 30.0,
    gps_every: Annotated[
        float, typer.Option(help="Seconds between each phone's GPS fixes", min=0.05)
    ] = 2.0,
    mqtt: Annotated[
        str | None,
        typer.Option(help="Send GPS through this MQTT broker (mqtt://host:1883) instead of HTTP"),
    ] = None,
) -> None:
    """Drive the demo technicians through their day over the API (against `routeboard demo`),
    their phones reporting GPS positions along each drive."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    asyncio.run(_simulate_when_ready(url, Settings(), speed, gps_every, mqtt))


@users_app.command("create")
def users_create(
    username: Annotated[str, typer.Option(help="Login name")],
    password: Annotated[
        str, typer.Option(help="At least 8 characters", prompt=True, hide_input=True)
    ],
    role: Annotated[str, typer.Option(help="admin, dispatcher, technician or customer")] = "admin",
    technician_id: Annotated[int | None, typer.Option(help="For the technician role")] = None,
    customer_id: Annotated[int | None, typer.Option(help="For the customer role")] = None,
) -> None:
    """Create a user (the first admin, typically)."""
    from pydantic import ValidationError

    from routeboard.errors import DomainError
    from routeboard.users.schemas import UserCreate

    try:
        data = UserCreate(
            username=username,
            password=password,
            role=role,
            technician_id=technician_id,
            customer_id=customer_id,
        )
    except ValidationError as exc:
        typer.echo(f"error: {exc.errors()[0]['msg']}", err=True)
        raise typer.Exit(2) from exc
    settings = Settings()
    try:
        user_id = asyncio.run(_create_user(settings, data))
    except DomainError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"created user {data.username} (id {user_id}, role {data.role})")


async def _create_user(settings: Settings, data: object) -> int:
    from routeboard.clock import system_clock
    from routeboard.db import make_engine, make_sessionmaker
    from routeboard.deps import system_actor
    from routeboard.users.schemas import UserCreate
    from routeboard.users.service import create_user

    assert isinstance(data, UserCreate)
    await _migrate(settings)
    engine = make_engine(settings.effective_database_url)
    try:
        async with make_sessionmaker(engine)() as session, session.begin():
            user = await create_user(session, data, actor=system_actor("cli", at=system_clock()))
        return user.id
    finally:
        await engine.dispose()


@users_app.command("unlock")
def users_unlock(username: Annotated[str, typer.Option(help="Login name")]) -> None:
    """Lift the sign-in lockout of a user (every address), e.g. after a guessing attack."""
    asyncio.run(_unlock(Settings(), username))
    typer.echo(f"sign-in unlocked for {username}")


async def _unlock(settings: Settings, username: str) -> None:
    from routeboard.auth.service import unlock_sign_in
    from routeboard.db import make_engine, make_sessionmaker

    engine = make_engine(settings.effective_database_url)
    try:
        async with make_sessionmaker(engine)() as session, session.begin():
            await unlock_sign_in(session, username)
    finally:
        await engine.dispose()


@audit_app.command("verify")
def audit_verify() -> None:
    """Check every job's audit chain; name the first broken entry of each broken chain."""
    settings = Settings()
    broken = asyncio.run(_verify(settings))
    raise typer.Exit(1 if broken else 0)


async def _verify(settings: Settings) -> int:
    from routeboard.audit.service import verify_all_chains
    from routeboard.db import make_engine, make_sessionmaker

    engine = make_engine(settings.effective_database_url)
    try:
        async with make_sessionmaker(engine)() as session:
            reports = await verify_all_chains(session)
    finally:
        await engine.dispose()
    bad = [r for r in reports if not r.verified]
    for r in bad:
        assert r.broken is not None
        typer.echo(
            f"job {r.job_id}: BROKEN at entry {r.broken.entry_id} "
            f"(seq {r.broken.seq}): {r.broken.problem}"
        )
    entries = sum(len(r.entries) for r in reports)
    typer.echo(f"{len(reports)} chains, {entries} entries checked; {len(bad)} broken")
    return len(bad)


@app.command()
def docs(
    out: Annotated[Path, typer.Option(help="Docs folder")] = Path("docs"),
) -> None:
    """Regenerate the generated documents (job lifecycle, access matrix)."""
    from routeboard import access
    from routeboard.jobs import states

    for name, render in (
        ("job-lifecycle.md", states.render_markdown),
        ("access.md", access.render_markdown),
    ):
        target = out / name
        target.write_text(render())
        typer.echo(f"wrote {target}")


if __name__ == "__main__":
    app()

"""The ASGI application: settings in, routers, error handlers and lifespan out."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime

from fastapi import FastAPI

from routeboard import __version__
from routeboard.audit.routes import router as audit_router
from routeboard.auth.tokens import utcnow
from routeboard.config import Settings
from routeboard.customers.routes import router as customers_router
from routeboard.db import make_engine, make_sessionmaker
from routeboard.errors import install_handlers
from routeboard.events.service import InProcessBroadcaster
from routeboard.health.routes import router as health_router
from routeboard.invoices.routes import router as invoices_router
from routeboard.jobs.routes import router as jobs_router
from routeboard.photos.routes import router as photos_router
from routeboard.quotes.routes import router as quotes_router
from routeboard.technicians.routes import router as technicians_router
from routeboard.users.routes import router as users_router

Clock = Callable[[], datetime]


def create_app(settings: Settings | None = None, *, clock: Clock = utcnow) -> FastAPI:
    settings = settings or Settings()
    engine = make_engine(settings.effective_database_url)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await engine.dispose()

    app = FastAPI(
        title="Routeboard",
        version=__version__,
        description="Dispatch, scheduling and live technician availability for mobile auto glass.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessionmaker = make_sessionmaker(engine)
    app.state.broadcaster = InProcessBroadcaster()
    app.state.signing_key = settings.signing_key()
    app.state.clock = clock
    install_handlers(app)
    for router in (
        health_router,
        users_router,
        technicians_router,
        customers_router,
        jobs_router,
        quotes_router,
        photos_router,
        invoices_router,
        audit_router,
    ):
        app.include_router(router)
    return app

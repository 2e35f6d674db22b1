"""Server-rendered pages and their cookie sign-in.

Pages authenticate with an HttpOnly, SameSite=Lax session cookie. Every state-changing form
carries a CSRF token: the login form a double-submit token (cookie + field), signed-in pages the
session's own token, which page scripts send as ``X-CSRF-Token`` on fetches.
"""

from __future__ import annotations

import hmac
import json
import secrets
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from markupsafe import Markup

from routeboard.access import Authorized
from routeboard.auth import service
from routeboard.auth.routes import throttled
from routeboard.auth.service import LoginRefusal
from routeboard.deps import (
    SESSION_COOKIE,
    Actor,
    OptionalActor,
    SessionDep,
    SettingsDep,
    client_of,
    system_actor,
)
from routeboard.errors import Forbidden, NotAuthenticated, NotFound
from routeboard.feedback import analysis
from routeboard.feedback import service as feedback
from routeboard.feedback.routes import default_range
from routeboard.jobs.schemas import YEARS
from routeboard.metrics.service import auth_event
from routeboard.models import AuthSession
from routeboard.notify import service as notify
from routeboard.pagination import PageParams
from routeboard.payments.provider import MemoryProvider
from routeboard.payments.service import pay_demo_checkout
from routeboard.tracking.service import job_for_link

STATIC = Path(__file__).parent / "static"
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
router = APIRouter(include_in_schema=False)
LOGIN_CSRF_COOKIE = "rb_login_csrf"
# The board's timeline, in business-local hours; the page widens it for jobs outside it.
BOARD_HOURS = (7, 19)


def _safe_next(target: str) -> str:
    # Only same-site paths: an open redirect after sign-in is a phishing tool.
    return target if target.startswith("/") and not target.startswith("//") else "/"


def _login_page(
    request: Request, settings: SettingsDep, *, status: int = 200, error: str = "", **extra: str
) -> HTMLResponse:
    token = secrets.token_urlsafe(32)
    context = {
        "shop_name": settings.shop_name,
        "login_csrf": token,
        "error": error,
        "next": _safe_next(extra.get("next", "/")),
        "username": extra.get("username", ""),
    }
    response = templates.TemplateResponse(request, "login.html", context, status_code=status)
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        max_age=3600,
        httponly=True,
        samesite="strict",
        secure=settings.secure_cookies,
    )
    return response


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request, settings: SettingsDep, next: str = "/") -> HTMLResponse:
    return _login_page(request, settings, next=next)


@router.post("/login", response_model=None)
async def login(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    username: Annotated[str, Form(max_length=80)],
    password: Annotated[str, Form(max_length=256)],
    csrf_token: Annotated[str, Form(max_length=100)],
    next: Annotated[str, Form(max_length=500)] = "/",
) -> Response:
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not (expected and hmac.compare_digest(expected, csrf_token)):
        raise Forbidden("the sign-in form expired; reload the page", code="csrf_failed")
    refused = throttled(request)
    now = request.app.state.clock()
    addr, agent = client_of(request)
    outcome = refused or await service.attempt_login(
        session, username, password, settings=settings, now=now, client_addr=addr
    )
    if isinstance(outcome, LoginRefusal):
        return _login_page(
            request,
            settings,
            status=outcome.status,
            error=outcome.message,
            username=username,
            next=next,
        )
    hours = settings.web_session_hours
    _, cookie = await service.open_session(
        session,
        outcome,
        kind="web",
        lifetime=timedelta(hours=hours),
        now=now,
        client_addr=addr,
        user_agent=agent,
    )
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        cookie,
        max_age=hours * 3600,
        httponly=True,
        samesite="lax",
        secure=settings.secure_cookies,
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE)
    return response


@router.post("/logout", response_model=None)
async def logout(session: SessionDep, actor: Authorized) -> Response:
    """The CSRF token was checked with the session cookie (see ``deps``)."""
    if actor.session_id:
        await service.revoke_session(session, actor.session_id, now=actor.at)
    auth_event("logout")
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


async def _page_csrf(session: SessionDep, actor: Actor) -> str:
    """The session's CSRF token for page scripts; empty for bearer callers, who need none."""
    live = await session.get(AuthSession, actor.session_id or "")
    return (live.csrf_token or "") if live else ""


@router.get("/", response_model=None)
async def home(
    request: Request, session: SessionDep, settings: SettingsDep, actor: OptionalActor
) -> Response:
    if actor is None or actor.role not in ("admin", "dispatcher", "technician", "customer"):
        return RedirectResponse("/login", status_code=303)
    context = {
        "shop_name": settings.shop_name,
        "username": actor.username,
        "role": actor.role,
        "csrf_token": await _page_csrf(session, actor),
    }
    return templates.TemplateResponse(request, "home.html", context)


def _page_date(raw: str) -> date | None:
    # A page answers a mistyped date with its default rather than a JSON error.
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        return None
    return day if day.year in YEARS else None


def _local_clock(tz: ZoneInfo) -> Callable[[datetime], str]:
    """How the office pages write an instant: Dec 1, 9:05 AM, in the shop's zone."""
    return lambda at: at.astimezone(tz).strftime("%b %-d, %-I:%M %p")


@router.get("/board", response_model=None)
async def board(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    actor: OptionalActor,
    day: Annotated[str, Query(alias="date")] = "",
) -> Response:
    """The dispatcher board. The page's script draws it from the schedule API and the stream."""
    if actor is None or not actor.is_staff:
        return RedirectResponse("/login?next=/board", status_code=303)
    today = request.app.state.clock().astimezone(settings.tz).date()
    context = {
        "shop_name": settings.shop_name,
        "username": actor.username,
        "role": actor.role,
        "csrf_token": await _page_csrf(session, actor),
        "day": (_page_date(day) or today).isoformat(),
        "today": today.isoformat(),
        "timezone": settings.business_timezone,
        "day_start": BOARD_HOURS[0],
        "day_end": BOARD_HOURS[1],
        "demo_note": request.app.state.demo_note,
    }
    return templates.TemplateResponse(request, "board.html", context)


@router.get("/tech", response_model=None)
async def tech_app(
    request: Request, session: SessionDep, settings: SettingsDep, actor: OptionalActor
) -> Response:
    """The technician's phone app. The page's script draws it from ``/api/v1/tech/day``."""
    if actor is None or actor.role != "technician":
        return RedirectResponse("/login?next=/tech", status_code=303)
    context = {
        "shop_name": settings.shop_name,
        "username": actor.username,
        "csrf_token": await _page_csrf(session, actor),
        "timezone": settings.business_timezone,
        "technician_id": actor.technician_id,
        "currency": settings.currency,
    }
    return templates.TemplateResponse(request, "tech.html", context)


@router.get("/tech/sw.js", response_model=None)
async def tech_worker() -> Response:
    """The app's service worker: it keeps the app's shell for use without a signal."""
    body = (STATIC / "tech-sw.js").read_bytes()
    # Served under /tech/ but controlling /tech itself (a scope may not be wider than its
    # folder without this header); never cached, so a new version is picked up at once.
    headers = {"Service-Worker-Allowed": "/tech", "Cache-Control": "no-cache"}
    return Response(body, media_type="text/javascript", headers=headers)


@router.get("/tech/manifest.webmanifest", response_model=None)
async def tech_manifest(settings: SettingsDep) -> Response:
    """What the phone needs to install the app on its home screen."""
    manifest = {
        "name": f"{settings.shop_name} · Technician",
        "short_name": "Routeboard",
        "start_url": "/tech",
        "scope": "/tech",
        "display": "standalone",
        "orientation": "portrait",
        "background_color": "#ffffff",
        "theme_color": "#0b3d91",
        "icons": [
            {"src": "/static/tech-icon.svg", "sizes": "any", "type": "image/svg+xml"},
        ],
    }
    return Response(json.dumps(manifest), media_type="application/manifest+json")


@router.get("/track/{token}", response_model=None)
async def tracking_page(
    token: str, request: Request, session: SessionDep, settings: SettingsDep
) -> Response:
    """The customer's page, opened from the link in a message; no sign-in. The page's script
    draws it from ``/api/v1/track/{token}`` and follows the job's stream."""
    try:
        await job_for_link(
            session, token, key=request.app.state.signing_key, now=request.app.state.clock()
        )
        status = 200
    except NotAuthenticated:
        status = 401  # the page still renders, and says so in words
    context = {
        "token": token,
        "shop_name": settings.shop_name,
        "shop_phone": settings.shop_phone or "",
        "timezone": settings.business_timezone,
    }
    response = templates.TemplateResponse(request, "track.html", context, status_code=status)
    # The link is the credential: kept out of caches and of any Referer header.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@router.get("/admin/feedback", response_model=None)
async def feedback_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    actor: OptionalActor,
    since: str = "",
    until: str = "",
) -> Response:
    """Ratings, sentiment, lateness and the staff's voice, for the owner."""
    if actor is None or actor.role != "admin":
        return RedirectResponse("/login?next=/admin/feedback", status_code=303)
    tz = settings.tz
    today = request.app.state.clock().astimezone(tz).date()
    first, last = default_range(today, _page_date(since), _page_date(until))
    if last < first:
        first, last = default_range(today, None, None)
    summary, result, points = await feedback.summarize(session, since=first, until=last, tz=tz)
    recent, _ = await feedback.list_feedback(session, page=PageParams(limit=25, offset=0))
    polls, _ = await feedback.list_polls(
        session, actor=actor, page=PageParams(limit=10, offset=0), open_only=False
    )
    charts = {
        "by_technician": _svg(analysis.bar_chart(result.by_technician, title="By technician")),
        "by_week": _svg(analysis.line_chart(result.by_week, title="By week")),
        "lateness": _svg(
            analysis.scatter_chart(
                points, title="Rating against lateness", x_label="Minutes late",
                y_label="Rating",
            )
        ),
    }  # fmt: skip
    context = {
        "shop_name": settings.shop_name,
        "summary": summary,
        "charts": charts,
        "recent": recent,
        "polls": polls,
        "pct": lambda v: f"{v:.0%}" if v is not None else "—",
        "corr": lambda v: f"{v:+.2f}" if v is not None else "n/a",
        "local": _local_clock(tz),
    }
    return templates.TemplateResponse(request, "admin_feedback.html", context)


def _svg(chart: str) -> Markup:
    # Trusted: the chart functions escape every text they are given (feedback/analysis.py).
    return Markup(chart)  # noqa: S704


OUTBOX_STATUSES = ("pending", "sent", "failed", "no_channel", "skipped")


@router.get("/admin/outbox", response_model=None)
async def outbox_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    actor: OptionalActor,
    status: str = "",
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Response:
    """Every customer message and each try at sending it, for the office."""
    if actor is None or not actor.is_staff:
        return RedirectResponse("/login?next=/admin/outbox", status_code=303)
    wanted = status if status in OUTBOX_STATUSES else None
    page = PageParams(limit=50, offset=offset)
    items, total = await notify.list_outbox(session, page=page, status=wanted, job_id=None)
    tz = settings.tz
    context = {
        "shop_name": settings.shop_name,
        "role": actor.role,
        "items": items,
        "total": total,
        "status": wanted or "",
        "statuses": OUTBOX_STATUSES,
        "offset": offset,
        "limit": page.limit,
        "local": _local_clock(tz),
    }
    return templates.TemplateResponse(request, "admin_outbox.html", context)


@router.get("/admin/templates", response_model=None)
async def templates_page(
    request: Request, session: SessionDep, settings: SettingsDep, actor: OptionalActor
) -> Response:
    """The wording of each customer message, editable; the page saves through the API."""
    if actor is None or actor.role != "admin":
        return RedirectResponse("/login?next=/admin/templates", status_code=303)
    context = {
        "shop_name": settings.shop_name,
        "templates": await notify.list_templates(session),
        "csrf_token": await _page_csrf(session, actor),
    }
    return templates.TemplateResponse(request, "admin_templates.html", context)


def _demo_checkouts(request: Request) -> MemoryProvider:
    provider = request.app.state.payments
    if not isinstance(provider, MemoryProvider):
        raise NotFound("no demo checkout here", code="checkout_not_found")
    return provider


def _checkout_page(
    request: Request, settings: SettingsDep, provider: MemoryProvider, reference: str
) -> Response:
    found = provider.checkout_of(reference)
    if found is None:
        raise NotFound("no such checkout", code="checkout_not_found")
    call, status = found
    amount = f"{call.amount_cents / 100:,.2f} {call.currency.upper()}"
    context = {
        "shop_name": settings.shop_name, "description": call.description, "amount": amount,
        "status": status, "reference": reference,
    }  # fmt: skip
    return templates.TemplateResponse(request, "pay_memory.html", context)


@router.get("/pay/memory/{reference}", response_model=None)
async def demo_checkout(reference: str, request: Request, settings: SettingsDep) -> Response:
    """The demo's stand-in for Stripe's checkout page (the in-memory card provider only)."""
    return _checkout_page(request, settings, _demo_checkouts(request), reference)


@router.post("/pay/memory/{reference}", response_model=None)
async def demo_checkout_pay(
    reference: str, request: Request, session: SessionDep, settings: SettingsDep
) -> Response:
    """ "Pay" on the demo checkout: the provider's webhook is applied as Stripe's would be."""
    provider = _demo_checkouts(request)
    actor = system_actor("webhook:memory", at=request.app.state.clock())
    await pay_demo_checkout(session, provider, reference, actor=actor)
    return RedirectResponse(f"/pay/memory/{reference}", status_code=303)

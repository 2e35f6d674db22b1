"""Who may do what, written down once.

``PERMISSIONS`` is the permission matrix: every route of the application, the roles it admits,
and for which roles it is narrowed to the caller's own rows. The ``Authorized`` dependency enforces
the row of the route being served, ``create_app`` refuses to start with a route that has no row,
and ``render_markdown`` writes it to ``docs/access.md``. Row-level checks (``access_*`` helpers,
``visible_jobs``) and event visibility (``EVENT_AUDIENCE``) live here too, and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Select, false, select
from sqlalchemy.ext.asyncio import AsyncSession

from routeboard.deps import Actor, OptionalActor
from routeboard.errors import Conflict, Forbidden, Hidden, NotAuthenticated
from routeboard.events.schemas import AnyEvent
from routeboard.jobs.states import GUARDS, GuardContext
from routeboard.models import Customer, Job, Technician

COLUMNS = ("admin", "dispatcher", "technician", "customer", "device", "integration")
STAFF = frozenset({"admin", "dispatcher"})
PEOPLE = frozenset({"admin", "dispatcher", "technician", "customer"})
ON_JOB = frozenset({"admin", "dispatcher", "technician", "customer"})
FIELD = frozenset({"admin", "dispatcher", "technician"})
ADMIN = frozenset({"admin"})
OWN_JOB = {"technician": "assigned jobs", "customer": "own jobs"}


@dataclass(frozen=True)
class Rule:
    roles: frozenset[str] = frozenset()
    public: bool = False
    # Roles that get only their own rows, with a word on what "own" means.
    own: dict[str, str] = field(default_factory=dict)
    note: str = ""


def _rule(roles: frozenset[str], own: dict[str, str] | None = None, note: str = "") -> Rule:
    return Rule(roles=roles, own={r: w for r, w in (own or {}).items() if r in roles}, note=note)


PUBLIC = Rule(public=True)

PERMISSIONS: dict[str, Rule] = {
    "GET /healthz": PUBLIC,
    "GET /readyz": PUBLIC,
    "GET /metrics": _rule(frozenset({"admin", "integration"}), note="Prometheus text format"),
    "POST /api/v1/auth/token": Rule(public=True, note="password; throttled and locked out"),
    "POST /api/v1/auth/refresh": Rule(public=True, note="refresh token in the body; rotates"),
    "POST /api/v1/auth/logout": _rule(PEOPLE, note="revokes the caller's session"),
    "GET /api/v1/me": _rule(PEOPLE),
    "POST /api/v1/users": _rule(frozenset({"admin"})),
    "GET /api/v1/users": _rule(frozenset({"admin"})),
    "GET /api/v1/users/{user_id}": _rule(frozenset({"admin"})),
    "PATCH /api/v1/users/{user_id}": _rule(frozenset({"admin"})),
    "DELETE /api/v1/users/{user_id}": _rule(frozenset({"admin"}), note="deactivates"),
    "POST /api/v1/api-keys": _rule(frozenset({"admin"}), note="the key is shown once"),
    "GET /api/v1/api-keys": _rule(frozenset({"admin"})),
    "DELETE /api/v1/api-keys/{key_id}": _rule(frozenset({"admin"}), note="revokes"),
    "GET /api/v1/events": _rule(STAFF, note="the stored event history"),
    "POST /api/v1/ingest/events": _rule(
        frozenset({"device", "integration"}),
        {"device": "reports for its own technician"},
        note="up to 1,000 reports, answered one by one",
    ),
    "GET /api/v1/ingest/osmand": Rule(public=True, note="the id parameter is a device API key"),
    "POST /api/v1/ingest/osmand": Rule(public=True, note="the id parameter is a device API key"),
    "POST /api/v1/ingest/webhook": Rule(public=True, note="HMAC-SHA256 signature of the body"),
    "GET /api/v1/ingest/rejected": _rule(frozenset({"admin"}), note="the dead letters"),
    "POST /api/v1/branches": _rule(frozenset({"admin"})),
    "GET /api/v1/branches": _rule(STAFF),
    "PATCH /api/v1/branches/{branch_id}": _rule(frozenset({"admin"}), note="active=false closes"),
    "POST /api/v1/technicians": _rule(STAFF),
    "GET /api/v1/technicians": _rule(STAFF),
    "GET /api/v1/technicians/{technician_id}": _rule(FIELD, {"technician": "own record"}),
    "PATCH /api/v1/technicians/{technician_id}": _rule(STAFF),
    "DELETE /api/v1/technicians/{technician_id}": _rule(STAFF, note="deactivates"),
    "POST /api/v1/customers": _rule(STAFF),
    "GET /api/v1/customers": _rule(STAFF),
    "GET /api/v1/customers/{customer_id}": _rule(
        frozenset({"admin", "dispatcher", "customer"}), {"customer": "own record"}
    ),
    "PATCH /api/v1/customers/{customer_id}": _rule(STAFF),
    "DELETE /api/v1/customers/{customer_id}": _rule(STAFF, note="deactivates"),
    "POST /api/v1/jobs": _rule(STAFF),
    "GET /api/v1/jobs": _rule(ON_JOB, OWN_JOB, note="customers get the customer view"),
    "GET /api/v1/jobs/{job_id}": _rule(ON_JOB, OWN_JOB, note="customers get the customer view"),
    "PATCH /api/v1/jobs/{job_id}": _rule(STAFF),
    "DELETE /api/v1/jobs/{job_id}": _rule(STAFF, note="cancels"),
    "POST /api/v1/jobs/{job_id}/schedule": _rule(STAFF),
    "POST /api/v1/jobs/{job_id}/transitions": _rule(
        FIELD, OWN_JOB, note="per-action roles: see docs/job-lifecycle.md"
    ),
    "GET /api/v1/jobs/{job_id}/quote": _rule(ON_JOB, OWN_JOB),
    "PUT /api/v1/jobs/{job_id}/quote": _rule(STAFF),
    "POST /api/v1/jobs/{job_id}/quote/approve": _rule(STAFF),
    "POST /api/v1/jobs/{job_id}/photos": _rule(FIELD, OWN_JOB),
    "GET /api/v1/jobs/{job_id}/photos": _rule(ON_JOB, OWN_JOB),
    "GET /api/v1/jobs/{job_id}/photos/{photo_id}/content": _rule(
        ON_JOB, OWN_JOB, note="customers get the image without EXIF metadata"
    ),
    "POST /api/v1/jobs/{job_id}/signature": _rule(FIELD, OWN_JOB),
    "GET /api/v1/jobs/{job_id}/invoice": _rule(ON_JOB, OWN_JOB),
    "POST /api/v1/jobs/{job_id}/payments": _rule(
        FIELD, OWN_JOB, note="card, cash, cheque or insurance only; Idempotency-Key honoured"
    ),
    "GET /api/v1/jobs/{job_id}/payments": _rule(ON_JOB, OWN_JOB),
    "POST /api/v1/payments/webhook": Rule(
        public=True, note="the provider's signature (Stripe-Signature) is the credential"
    ),
    "GET /api/v1/jobs/{job_id}/documents/work-order.pdf": _rule(ON_JOB, OWN_JOB),
    "GET /api/v1/jobs/{job_id}/documents/invoice.pdf": _rule(
        ON_JOB, OWN_JOB, note="once the job is completed"
    ),
    "GET /api/v1/jobs/{job_id}/audit": _rule(STAFF),
    "POST /api/v1/jobs/{job_id}/tracking-link": _rule(STAFF),
    "DELETE /api/v1/jobs/{job_id}/tracking-link": _rule(STAFF, note="revokes every link"),
    "GET /api/v1/schedule": _rule(FIELD, {"technician": "own day"}),
    "POST /api/v1/schedule/check": _rule(STAFF, note="dry run of scheduling"),
    "POST /api/v1/schedule/recommend": _rule(STAFF),
    "GET /api/v1/schedule/slots": _rule(
        frozenset({"admin", "dispatcher", "integration"}), note="for online booking"
    ),
    "POST /api/v1/schedule/optimize": _rule(STAFF, note="proposal only"),
    "POST /api/v1/schedule/optimize/apply": _rule(STAFF, note="re-checked and audited"),
    "GET /api/v1/tech/day": _rule(
        frozenset({"technician"}), {"technician": "own day"}, note="the technician app's home"
    ),
    "GET /api/v1/availability": _rule(FIELD, {"technician": "own status"}),
    "POST /api/v1/technicians/{technician_id}/status": _rule(
        FIELD, {"technician": "own status"}, note="available, break or off_duty"
    ),
    "GET /api/v1/stream": _rule(PEOPLE, OWN_JOB, note="Server-Sent Events; see Live events"),
    "WS /api/v1/ws": _rule(PEOPLE, OWN_JOB, note="WebSocket; token or page cookie"),
    "GET /api/v1/track/{token}": Rule(public=True, note="the signed link is the credential"),
    "GET /api/v1/track/{token}/stream": Rule(
        public=True, note="the link is the credential; revoking it ends the stream"
    ),
    "POST /api/v1/track/{token}/feedback": Rule(
        public=True, note="the link is the credential; rating once done, arrival once there"
    ),
    "GET /api/v1/track/{token}/invoice.pdf": Rule(
        public=True, note="the link is the credential; once the work is done"
    ),
    "GET /api/v1/message-templates": _rule(ADMIN, note="wording, variables and a preview"),
    "PUT /api/v1/message-templates/{kind}": _rule(ADMIN, note="checked: it must render"),
    "DELETE /api/v1/message-templates/{kind}": _rule(ADMIN, note="back to the default"),
    "GET /api/v1/outbox": _rule(STAFF, note="customer messages and every attempt"),
    "GET /api/v1/feedback/summary": _rule(ADMIN),
    "GET /api/v1/feedback": _rule(ADMIN, note="customer ratings and comments"),
    "GET /api/v1/pulse/today": _rule(FIELD, note="staff pulse: today's question"),
    "POST /api/v1/pulse": _rule(FIELD, note="one answer per person and day"),
    "GET /api/v1/polls": _rule(FIELD),
    "POST /api/v1/polls": _rule(ADMIN),
    "GET /api/v1/polls/{poll_id}": _rule(FIELD),
    "PATCH /api/v1/polls/{poll_id}": _rule(ADMIN, note="close or reopen"),
    "PUT /api/v1/polls/{poll_id}/vote": _rule(FIELD, note="open polls only"),
    "GET /track/{token}": Rule(public=True, note="the customer's tracking page"),
    "GET /pay/memory/{reference}": Rule(
        public=True, note="the demo's card checkout page (in-memory provider only)"
    ),
    "POST /pay/memory/{reference}": Rule(
        public=True, note="the demo's 'pay' button; settles as the provider's webhook would"
    ),
    "GET /admin/outbox": Rule(
        public=True, note="page; redirects to /login without a staff session"
    ),
    "GET /admin/templates": Rule(
        public=True, note="page; redirects to /login without an admin session"
    ),
    "GET /admin/feedback": Rule(
        public=True, note="page; redirects to /login without an admin session"
    ),
    "GET /login": Rule(public=True, note="page"),
    "POST /login": Rule(public=True, note="page form; CSRF token required"),
    "POST /logout": _rule(PEOPLE, note="page form; CSRF token required"),
    "GET /": Rule(public=True, note="page; redirects to /login without a session"),
    "GET /board": Rule(public=True, note="page; redirects to /login without a staff session"),
    "GET /tech": Rule(public=True, note="technician app page; redirects to /login otherwise"),
    "GET /tech/sw.js": Rule(public=True, note="the technician app's service worker"),
    "GET /tech/manifest.webmanifest": Rule(public=True, note="the technician app's manifest"),
}

# Which live events each role receives (used by the event stream). Technicians get the events of
# jobs assigned to them; customers the progress of their own jobs and nothing about anyone else.
EVENT_AUDIENCE: dict[str, Rule] = {
    "job.created": _rule(STAFF),
    "job.updated": _rule(FIELD, OWN_JOB),
    "job.transitioned": _rule(ON_JOB, OWN_JOB),
    "job.scheduled": _rule(ON_JOB, OWN_JOB),
    "quote.changed": _rule(STAFF),
    "job.evidence": _rule(FIELD, OWN_JOB),
    "job.payment": _rule(ON_JOB, OWN_JOB),
    "technician.status": _rule(FIELD, {"technician": "own status"}),
    "technician.location": _rule(FIELD, {"technician": "own position"}),
    "technician.geofence": _rule(
        PEOPLE,
        {"technician": "own arrivals", "customer": "arrivals at their own job"},
        note="customers see only the arrival at their own job's site",
    ),
    "job.eta": _rule(PEOPLE, OWN_JOB),
    "alert.raised": _rule(STAFF),
    "alert.cleared": _rule(STAFF),
    "snapshot": _rule(PEOPLE, OWN_JOB, note="the board or job as it stands, then events"),
}


def route_key(request: Request) -> str:
    route = request.scope.get("route")
    path = getattr(route, "path", request.url.path)
    return f"{request.method} {path}"


async def authorize(request: Request, actor: OptionalActor) -> Actor:
    """Enforce the matrix row of the route being served."""
    rule = PERMISSIONS[route_key(request)]
    if actor is None:
        raise NotAuthenticated("sign in: send 'Authorization: Bearer <token>'")
    if actor.role not in rule.roles:
        raise Forbidden(
            f"a {actor.role} may not use this endpoint",
            code="role_not_allowed",
            details={"role": actor.role, "allowed": sorted(rule.roles)},
        )
    return actor


Authorized = Annotated[Actor, Depends(authorize)]


def _hidden(kind: str, ident: int) -> Hidden:
    # The same answer for "does not exist" and "not yours", so ids cannot be probed.
    return Hidden(f"{kind} {ident} not found", code=f"{kind}_not_found")


def visible_jobs(actor: Actor, query: Select[Job]) -> Select[Job]:
    """Narrow a job query to what ``actor`` may see."""
    if actor.is_staff:
        return query
    if actor.role == "technician" and actor.technician_id is not None:
        return query.where(Job.technician_id == actor.technician_id)
    if actor.role == "customer" and actor.customer_id is not None:
        return query.where(Job.customer_id == actor.customer_id)
    return query.where(false())


async def access_job(
    session: AsyncSession, actor: Actor, job_id: int, *, for_update: bool = False
) -> Job:
    """The job if ``actor`` may see it; staff see all, others only their own."""
    query = visible_jobs(actor, select(Job).where(Job.id == job_id))
    if for_update:
        query = query.with_for_update()
    job = (await session.execute(query)).scalars().first()
    if job is None:
        raise _hidden("job", job_id)
    return job


async def load_job_for_field_work(session: AsyncSession, actor: Actor, job_id: int) -> Job:
    """The job, locked, for work only its own technician (or the office) may record: refused
    by the state machine's ``not_assigned_technician`` rule, named, for anyone else."""
    job = await load_job_for_action(session, actor, job_id)
    guard = GUARDS["not_assigned_technician"]
    ctx = GuardContext(
        actor_role=actor.role,
        actor_technician_id=actor.technician_id,
        assigned_technician_id=job.technician_id,
    )
    if guard.refuses(ctx):
        raise Conflict(guard.message(ctx), code=guard.name, details={"guard": guard.name})
    return job


async def load_job_for_action(session: AsyncSession, actor: Actor, job_id: int) -> Job:
    """The job, locked, for a change by staff or a technician.

    A technician acting on a job assigned to someone else is answered by the state machine's
    ``not_assigned_technician`` guard (409, naming the rule) rather than narrowed here.
    """
    if actor.role not in FIELD:
        raise _hidden("job", job_id)
    query = select(Job).where(Job.id == job_id).with_for_update()
    job = (await session.execute(query)).scalars().first()
    if job is None:
        raise _hidden("job", job_id)
    return job


async def access_technician(session: AsyncSession, actor: Actor, technician_id: int) -> Technician:
    tech = await session.get(Technician, technician_id)
    if tech is None or not (actor.is_staff or actor.technician_id == technician_id):
        raise _hidden("technician", technician_id)
    return tech


async def access_customer(session: AsyncSession, actor: Actor, customer_id: int) -> Customer:
    customer = await session.get(Customer, customer_id)
    if customer is None or not (actor.is_staff or actor.customer_id == customer_id):
        raise _hidden("customer", customer_id)
    return customer


def _cell(rule: Rule, role: str) -> str:
    if rule.public:
        return "public"
    if role not in rule.roles:
        return "—"
    return f"own ({rule.own[role]})" if role in rule.own else "yes"


def render_markdown() -> str:
    """The matrix as ``docs/access.md``."""
    head = "| endpoint | " + " | ".join(COLUMNS) + " | anonymous | note |"
    out = [
        "# Access matrix",
        "",
        "Generated from `src/routeboard/access.py` by `routeboard docs`; a test fails when this",
        "file and the code disagree, and another sends every role to every endpoint.",
        "",
        "- **yes**: allowed on every row. **own (...)**: allowed on the caller's own rows; other",
        "  rows answer 404, exactly as rows that do not exist. **—**: 403 `role_not_allowed`",
        "  (401 without credentials). **public**: no credentials needed.",
        "- `device` is an API key scoped to one technician; `integration` an API key for other",
        "  software. Both are sent as `X-API-Key`.",
        "- A technician moving a job assigned to someone else is refused by the",
        "  `not_assigned_technician` rule (409) rather than hidden.",
        "",
        "## Endpoints",
        "",
        head,
        "|" + "---|" * (len(COLUMNS) + 3),
    ]
    for key, rule in PERMISSIONS.items():
        cells = [_cell(rule, role) for role in COLUMNS]
        anonymous = "public" if rule.public else "401"
        out.append(f"| `{key}` | " + " | ".join(cells) + f" | {anonymous} | {rule.note} |")
    out += [
        "",
        "## Live events",
        "",
        "| event | " + " | ".join(COLUMNS) + " |",
        "|" + "---|" * (len(COLUMNS) + 1),
    ]
    for event, rule in EVENT_AUDIENCE.items():
        out.append(f"| `{event}` | " + " | ".join(_cell(rule, r) for r in COLUMNS) + " |")
    out.append("")
    return "\n".join(out)


def event_visible(actor: Actor, event: AnyEvent) -> bool:
    """Whether ``actor`` may receive ``event`` on a live stream (see ``EVENT_AUDIENCE``)."""
    rule = EVENT_AUDIENCE.get(event.type)
    if rule is None or actor.role not in rule.roles:
        return False
    if actor.role not in rule.own:
        return True
    if actor.role == "technician":
        return actor.technician_id is not None and actor.technician_id in (
            event.technician_id,
            event.previous_technician_id,
        )
    if actor.role == "customer":
        return actor.customer_id is not None and actor.customer_id == event.customer_id
    return False


def audience_key(actor: Actor) -> str:
    """Actors who see the same events the same way share a key: each event is encoded once
    per key, not once per connection."""
    if actor.is_staff:
        return "staff"
    if actor.role == "technician":
        return f"technician:{actor.technician_id}"
    if actor.role == "customer":
        return f"customer:{actor.customer_id}"
    return f"{actor.role}:{actor.api_key_id}"

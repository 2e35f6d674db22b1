"""The job lifecycle, declared once as data.

``TRANSITIONS`` is the whole state machine: for each action, the states it starts from, the state
it leads to, the roles that may take it, and the named guard rules checked in order. Services
never branch on states themselves; they build a ``GuardContext`` and call ``decide``. The table is
rendered into ``docs/job-lifecycle.md`` by ``render_markdown`` and a test keeps the two equal.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum


class State(StrEnum):
    QUOTED = "quoted"
    SCHEDULED = "scheduled"
    EN_ROUTE = "en_route"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    INVOICED = "invoiced"
    CANCELLED = "cancelled"


class Action(StrEnum):
    SCHEDULE = "schedule"
    RESCHEDULE = "reschedule"
    UNSCHEDULE = "unschedule"
    START_TRAVEL = "start_travel"
    START_WORK = "start_work"
    COMPLETE = "complete"
    INVOICE = "invoice"
    CANCEL = "cancel"


# States in which a job holds a place on a technician's day.
ACTIVE_ON_DAY = frozenset({State.SCHEDULED, State.EN_ROUTE, State.IN_PROGRESS})


@dataclass(frozen=True)
class GuardContext:
    """Everything the guards need, loaded by the service; the guards do no I/O."""

    actor_role: str
    actor_technician_id: int | None = None
    assigned_technician_id: int | None = None
    quote_status: str | None = None
    target_technician_ok: bool = False
    overlapping_job_ids: tuple[int, ...] = ()
    # Kinds of feasibility conflicts (travel, hours, window, skill) the placement has.
    infeasible: tuple[str, ...] = ()
    before_photos: int = 0
    after_photos: int = 0
    has_signature: bool = False
    reason: str | None = None


@dataclass(frozen=True)
class Guard:
    name: str
    description: str
    refuses: Callable[[GuardContext], bool]
    message: Callable[[GuardContext], str]


def _own_job(ctx: GuardContext) -> bool:
    if ctx.actor_role != "technician":
        return False
    return ctx.actor_technician_id is None or ctx.actor_technician_id != ctx.assigned_technician_id


GUARDS: dict[str, Guard] = {
    g.name: g
    for g in (
        Guard(
            "not_assigned_technician",
            "A technician may only move jobs assigned to them.",
            _own_job,
            lambda c: "this job is not assigned to you",
        ),
        Guard(
            "quote_not_approved",
            "The job's quote must be approved.",
            lambda c: c.quote_status != "approved",
            lambda c: f"the quote is {c.quote_status or 'missing'}; it must be approved first",
        ),
        Guard(
            "no_technician",
            "An active technician must be named.",
            lambda c: not c.target_technician_ok,
            lambda c: "no active technician given for this job",
        ),
        Guard(
            "schedule_overlap",
            "The technician has no other job in the proposed time.",
            lambda c: bool(c.overlapping_job_ids),
            lambda c: (
                "the technician already has job(s) "
                + ", ".join(str(i) for i in c.overlapping_job_ids)
                + " at that time"
            ),
        ),
        Guard(
            "schedule_infeasible",
            "The technician can get there in time, within working hours, the customer's window "
            "and their skills (unless a dispatcher overrides with a reason).",
            lambda c: bool(c.infeasible),
            lambda c: "the placement does not work: " + ", ".join(sorted(set(c.infeasible))),
        ),
        Guard(
            "missing_before_photo",
            "At least one before photo is on file.",
            lambda c: c.before_photos < 1,
            lambda c: "a before photo is needed",
        ),
        Guard(
            "missing_after_photo",
            "At least one after photo is on file.",
            lambda c: c.after_photos < 1,
            lambda c: "an after photo is needed",
        ),
        Guard(
            "missing_signature",
            "The customer has signed.",
            lambda c: not c.has_signature,
            lambda c: "the customer's signature is needed",
        ),
        Guard(
            "reason_required",
            "A reason is given.",
            lambda c: not (c.reason and c.reason.strip()),
            lambda c: "a reason is required",
        ),
    )
}

STAFF = frozenset({"admin", "dispatcher"})
FIELD = frozenset({"admin", "dispatcher", "technician"})


@dataclass(frozen=True)
class Transition:
    action: Action
    sources: frozenset[State]
    target: State | None  # None: stays in its state (reschedule)
    roles: frozenset[str]
    guards: tuple[str, ...]
    # The guard named when the job is in a state the action does not start from.
    wrong_state: str = "invalid_transition"
    effects: tuple[str, ...] = field(default=())


TRANSITIONS: dict[Action, Transition] = {
    t.action: t
    for t in (
        Transition(
            Action.SCHEDULE,
            frozenset({State.QUOTED}),
            State.SCHEDULED,
            STAFF,
            ("quote_not_approved", "no_technician", "schedule_overlap", "schedule_infeasible"),
            effects=("assign technician and time", "queue booking confirmation"),
        ),
        Transition(
            Action.RESCHEDULE,
            frozenset({State.SCHEDULED}),
            None,
            STAFF,
            ("no_technician", "schedule_overlap", "schedule_infeasible"),
            effects=("move technician and time", "queue reschedule notice"),
        ),
        Transition(
            Action.UNSCHEDULE,
            frozenset({State.SCHEDULED}),
            State.QUOTED,
            STAFF,
            (),
            effects=("clear technician and time",),
        ),
        Transition(
            Action.START_TRAVEL,
            frozenset({State.SCHEDULED}),
            State.EN_ROUTE,
            FIELD,
            ("not_assigned_technician",),
            effects=("record when the drive started", "queue 'on my way' message with ETA"),
        ),
        Transition(
            Action.START_WORK,
            frozenset({State.EN_ROUTE}),
            State.IN_PROGRESS,
            FIELD,
            ("not_assigned_technician",),
            effects=("start the labour clock",),
        ),
        Transition(
            Action.COMPLETE,
            frozenset({State.IN_PROGRESS}),
            State.COMPLETED,
            FIELD,
            (
                "not_assigned_technician",
                "quote_not_approved",
                "missing_before_photo",
                "missing_after_photo",
                "missing_signature",
            ),
            effects=("stop the labour clock", "draft the invoice from the approved quote"),
        ),
        Transition(
            Action.INVOICE,
            frozenset({State.COMPLETED}),
            State.INVOICED,
            STAFF,
            (),
            wrong_state="not_completed",
            effects=("fix the invoice number",),
        ),
        Transition(
            Action.CANCEL,
            frozenset({State.QUOTED, State.SCHEDULED, State.EN_ROUTE}),
            State.CANCELLED,
            STAFF,
            ("reason_required",),
            effects=("record the reason", "queue cancellation notice when it was booked"),
        ),
    )
}


class Refused(Exception):
    """A transition was refused; ``guard`` is the stable rule name clients branch on."""

    def __init__(self, guard: str, message: str) -> None:
        super().__init__(message)
        self.guard = guard
        self.message = message


class RoleRefused(Exception):
    def __init__(self, action: Action, role: str) -> None:
        super().__init__(f"a {role} may not {action.value.replace('_', ' ')} a job")
        self.action = action


def decide(state: State, action: Action, ctx: GuardContext) -> State:
    """The state ``action`` leads to from ``state``, or ``Refused`` naming the first failed rule."""
    transition = TRANSITIONS[action]
    if ctx.actor_role not in transition.roles:
        raise RoleRefused(action, ctx.actor_role)
    if state not in transition.sources:
        allowed = ", ".join(sorted(s.value for s in transition.sources))
        raise Refused(
            transition.wrong_state,
            f"cannot {action.value} a job that is {state.value} (allowed from: {allowed})",
        )
    for name in transition.guards:
        guard = GUARDS[name]
        if guard.refuses(ctx):
            raise Refused(name, guard.message(ctx))
    return transition.target or state


def render_markdown() -> str:
    """The lifecycle as a Markdown document (``docs/job-lifecycle.md``)."""
    out = [
        "# Job lifecycle",
        "",
        "Generated from `src/routeboard/jobs/states.py` by `routeboard docs`; "
        "a test fails when this file and the table disagree.",
        "",
        "States: " + ", ".join(f"`{s.value}`" for s in State) + ".",
        "",
        "| action | from | to | roles | guards, checked in order | effects |",
        "|---|---|---|---|---|---|",
    ]
    for t in TRANSITIONS.values():
        sources = ", ".join(f"`{s.value}`" for s in State if s in t.sources)
        target = f"`{t.target.value}`" if t.target else "(same state)"
        roles = ", ".join(sorted(t.roles))
        guards = ", ".join(f"`{g}`" for g in t.guards) or "—"
        effects = "; ".join(t.effects) or "—"
        out.append(
            f"| `{t.action.value}` | {sources} | {target} | {roles} | {guards} | {effects} |"
        )
    out += [
        "",
        "From any other state an action is refused with `invalid_transition`, except `invoice`, "
        "which is refused with `not_completed`. A role not listed is refused with 403 "
        "`role_not_allowed`. Every other refusal is HTTP 409 with the guard's name as `error`.",
        "",
        "## Guards",
        "",
        "| guard | rule |",
        "|---|---|",
    ]
    for g in GUARDS.values():
        out.append(f"| `{g.name}` | {g.description} |")
    out += [
        "| `invalid_transition` | The action starts from the job's current state. |",
        "| `not_completed` | Only a completed job is invoiced. |",
        "",
    ]
    return "\n".join(out)

"""The declared state table, as pure data: its shape, its guards, and its rendered document."""

from __future__ import annotations

from pathlib import Path

import pytest

from routeboard.jobs.states import (
    GUARDS,
    TRANSITIONS,
    Action,
    GuardContext,
    Refused,
    RoleRefused,
    State,
    decide,
    render_markdown,
)

DOC = Path(__file__).parents[2] / "docs" / "job-lifecycle.md"
ACCESS_DOC = Path(__file__).parents[2] / "docs" / "access.md"
PASSING = GuardContext(
    actor_role="dispatcher",
    quote_status="approved",
    target_technician_ok=True,
    before_photos=1,
    after_photos=1,
    has_signature=True,
    reason="because",
)


def test_the_generated_document_matches_the_table() -> None:
    assert DOC.read_text() == render_markdown(), (
        "run `make docs` to regenerate docs/job-lifecycle.md"
    )


def test_every_guard_named_in_the_table_exists_and_every_state_is_reachable() -> None:
    named = {g for t in TRANSITIONS.values() for g in t.guards}
    assert named <= set(GUARDS)
    reachable = {State.QUOTED} | {t.target for t in TRANSITIONS.values() if t.target}
    assert reachable == set(State)


@pytest.mark.parametrize("state", list(State))
@pytest.mark.parametrize("action", list(Action))
def test_decide_over_every_pair(state: State, action: Action) -> None:
    transition = TRANSITIONS[action]
    if state in transition.sources:
        assert decide(state, action, PASSING) == (transition.target or state)
    else:
        with pytest.raises(Refused) as err:
            decide(state, action, PASSING)
        assert err.value.guard == (
            "not_completed" if action is Action.INVOICE else "invalid_transition"
        )


def test_guards_are_checked_in_declared_order() -> None:
    ctx = GuardContext(actor_role="technician", actor_technician_id=2, assigned_technician_id=1)
    with pytest.raises(Refused) as err:
        decide(State.IN_PROGRESS, Action.COMPLETE, ctx)
    assert err.value.guard == "not_assigned_technician"
    own = GuardContext(
        actor_role="technician",
        actor_technician_id=1,
        assigned_technician_id=1,
        quote_status="approved",
        after_photos=1,
    )
    with pytest.raises(Refused) as err:
        decide(State.IN_PROGRESS, Action.COMPLETE, own)
    assert err.value.guard == "missing_before_photo"


def test_roles_are_checked_before_states() -> None:
    with pytest.raises(RoleRefused):
        decide(State.COMPLETED, Action.INVOICE, GuardContext(actor_role="technician"))
    with pytest.raises(RoleRefused):
        decide(State.SCHEDULED, Action.START_TRAVEL, GuardContext(actor_role="customer"))

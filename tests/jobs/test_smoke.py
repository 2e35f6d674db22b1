from __future__ import annotations

import pytest

from tests.conftest import Env
from tests.flows import to_state

pytestmark = pytest.mark.anyio


async def test_full_lifecycle_reaches_invoiced(env: Env) -> None:
    jid = await to_state(env, "invoiced")
    r = await env.client.get(f"/api/v1/jobs/{jid}", headers=env.h("dispatcher"))
    assert r.json()["state"] == "invoiced"

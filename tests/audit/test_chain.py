"""The pure hash chain: any single change to any entry is found, at that entry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from routeboard.audit.chain import GENESIS, entry_hash, first_break


def chain(n: int) -> list[dict[str, Any]]:
    prev, out = GENESIS, []
    for i in range(1, n + 1):
        content: dict[str, Any] = {
            "id": 100 + i,
            "job_id": 7,
            "seq": i,
            "action": f"a{i}",
            "actor_id": 1,
            "actor_name": "d",
            "actor_role": "dispatcher",
            "at": datetime(2026, 12, 1, tzinfo=UTC) + timedelta(minutes=i),
            "from_state": None,
            "to_state": None,
            "reason": None,
            "client_addr": None,
            "user_agent": None,
            "lat": None,
            "lon": None,
            "data": {"n": i},
        }
        content["prev_hash"] = prev
        content["hash"] = prev = entry_hash(prev, content)
        out.append(content)
    return out


def test_an_intact_chain_verifies() -> None:
    assert first_break(chain(5)) is None


@given(st.integers(1, 8), st.data())
def test_any_field_change_is_found_at_that_entry(n: int, data: st.DataObject) -> None:
    entries = chain(n)
    index = data.draw(st.integers(0, n - 1))
    field = data.draw(st.sampled_from(["action", "actor_name", "reason", "lat", "data", "at"]))
    entries[index][field] = {"at": entries[index]["at"] + timedelta(microseconds=1)}.get(field, "x")
    broken = first_break(entries)
    assert broken is not None and broken.seq == index + 1


def test_a_removed_middle_entry_is_found() -> None:
    entries = chain(4)
    del entries[1]
    broken = first_break(entries)
    assert broken is not None and broken.seq == 3

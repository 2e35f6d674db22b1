"""Hash chaining of audit entries (pure).

Each entry's hash is SHA-256 over the previous entry's hash and the entry's canonical content, so
changing, inserting or deleting any entry breaks every hash after it. The first entry of a chain
links to ``GENESIS``. Canonical content is sorted-key JSON with UTC timestamps to the microsecond.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

GENESIS = "0" * 64

# The fields that are evidence; changing this tuple changes every hash, so it is append-only.
FIELDS = (
    "job_id",
    "seq",
    "action",
    "actor_id",
    "actor_name",
    "actor_role",
    "at",
    "from_state",
    "to_state",
    "reason",
    "client_addr",
    "user_agent",
    "lat",
    "lon",
    "data",
)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return value


def canonical(content: Mapping[str, Any]) -> bytes:
    return json.dumps(
        {k: _plain(content.get(k)) for k in FIELDS},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode()


def entry_hash(prev_hash: str, content: Mapping[str, Any]) -> str:
    return hashlib.sha256(prev_hash.encode() + b"\n" + canonical(content)).hexdigest()


@dataclass(frozen=True)
class Break:
    entry_id: int
    seq: int
    problem: str


def first_break(entries: Iterable[Mapping[str, Any]]) -> Break | None:
    """The first entry (in ``seq`` order) whose link or content does not verify, if any."""
    prev = GENESIS
    expected_seq = 1
    for e in entries:
        if e["seq"] != expected_seq:
            return Break(e["id"], e["seq"], f"sequence gap: expected {expected_seq}")
        if e["prev_hash"] != prev:
            return Break(e["id"], e["seq"], "does not link to the previous entry")
        if entry_hash(prev, e) != e["hash"]:
            return Break(e["id"], e["seq"], "content does not match its hash")
        prev = e["hash"]
        expected_seq += 1
    return None

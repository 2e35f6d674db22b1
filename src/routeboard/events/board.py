"""The board's contents as data, and how one event changes them (pure).

A board is the jobs placed on a day (in the business time zone) plus the unassigned quoted jobs
waiting in the tray, optionally narrowed to one technician or one job. ``belongs`` decides
membership for the snapshot query and for applying events alike, so a client that applies every
event to its snapshot holds exactly what a fresh snapshot would show (tested).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo

from routeboard.events.schemas import AnyEvent, JobCard


@dataclass(frozen=True)
class BoardFilter:
    day: date | None = None
    technician_id: int | None = None
    job_id: int | None = None
    branch_id: int | None = None


def belongs(card: JobCard, where: BoardFilter, tz: ZoneInfo) -> bool:
    if where.job_id is not None:
        return card.id == where.job_id
    if where.technician_id is not None and card.technician_id != where.technician_id:
        return False
    # A branch's board shows its own jobs and those no shop has been given yet.
    if where.branch_id is not None and card.branch_id not in (None, where.branch_id):
        return False
    if card.technician_id is None:
        return card.state == "quoted" and where.technician_id is None
    if where.day is None or card.scheduled_start is None:
        return where.day is None
    return card.scheduled_start.astimezone(tz).date() == where.day


def apply_event(
    board: dict[int, JobCard], event: AnyEvent, where: BoardFilter, tz: ZoneInfo
) -> None:
    """Update ``board`` (cards by job id) with one streamed event, in place."""
    card = event.job
    if card is None:
        return
    if belongs(card, where, tz):
        board[card.id] = card
    else:
        board.pop(card.id, None)

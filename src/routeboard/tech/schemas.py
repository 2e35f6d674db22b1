"""What the technician's app shows of a job: enough to drive there and do the work."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel

from routeboard.jobs.schemas import Site, VehicleRead, Window

NextAction = Literal["start_travel", "start_work", "complete"]


class TechJob(BaseModel):
    id: int
    state: str
    customer_first_name: str
    customer_phone: str | None
    site: Site
    # Opens the phone's own maps app on Android and iOS alike.
    navigate_url: str
    window: Window | None
    scheduled_start: datetime | None
    scheduled_end: datetime | None
    vehicle: VehicleRead
    service_type: str
    notes: str
    before_photos: int
    after_photos: int
    signed: bool
    next_action: NextAction | None
    # In words, what the next action still needs ("1 after photo needed"); empty when ready.
    missing: list[str]
    # The customer's share (the deductible when insurance pays the rest), once completed.
    amount_due_cents: int | None
    # What the insurer pays, once completed: shown beside the amount due, signal or not.
    insurer_share_cents: int | None = None
    paid_cents: int


class TechDay(BaseModel):
    technician_id: int
    date: str
    timezone: str
    jobs: list[TechJob]
    # The server's clock when it answered: the app corrects its own by it, so a phone running
    # fast does not stamp its actions in the future (refused as occurred_in_future).
    server_time: datetime

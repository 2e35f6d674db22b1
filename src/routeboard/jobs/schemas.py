"""Job request and response bodies."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Literal, Self

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from routeboard.db import Id
from routeboard.jobs.vin import vin_problem
from routeboard.models import Customer, Job, Technician

ServiceType = Literal[
    "windshield_replacement", "chip_repair", "adas_calibration", "side_back_glass"
]
Text300 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
# Any offset is accepted; inside, every instant is UTC. Naive times are refused (422).
# Far enough either side of any real booking, and far from datetime's limits.
YEARS = range(2000, 2101)


def _instant(value: datetime) -> datetime:
    if value.year not in YEARS:
        raise ValueError(f"the year must be within {YEARS.start}..{YEARS.stop - 1}")
    return value.astimezone(UTC)


def in_years(day: date) -> date:
    if day.year not in YEARS:
        raise ValueError(f"the year must be within {YEARS.start}..{YEARS.stop - 1}")
    return day


Instant = Annotated[AwareDatetime, AfterValidator(_instant)]
Short = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Site(Strict):
    address: Text300
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class Window(Strict):
    start: Instant
    end: Instant

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.end <= self.start:
            raise ValueError("the window must end after it starts")
        return self

    @classmethod
    def of(cls, job: Job) -> Window | None:
        """The job's arrival window, if it has one."""
        if job.window_start is None or job.window_end is None:
            return None
        return cls(start=job.window_start, end=job.window_end)


class VehicleIn(Strict):
    # The upper bound moves with the calendar, so the service checks it against the clock
    # (``jobs.service.newest_model_year``); this one only keeps absurd numbers out.
    year: int = Field(ge=1981, le=9999)
    make: Short
    model: Short
    vin: str

    @field_validator("vin")
    @classmethod
    def _vin(cls, value: str) -> str:
        vin = value.strip().upper()
        problem = vin_problem(vin)
        if problem:
            raise ValueError(problem)
        return vin


class VehicleRead(BaseModel):
    year: int
    make: str
    model: str
    vin: str


class Insurance(Strict):
    carrier: Short
    claim_number: Short | None = None
    policy_number: Short | None = None
    deductible_cents: int = Field(default=0, ge=0, le=10_000_000)


class JobCreate(Strict):
    customer_id: Id
    service_type: ServiceType
    site: Site
    duration_minutes: int = Field(ge=10, le=12 * 60)
    window: Window | None = None
    vehicle: VehicleIn
    insurance: Insurance | None = None
    notes: str = Field(default="", max_length=4000)
    branch_id: Id | None = Field(default=None, description="The shop that serves it")


class JobUpdate(Strict):
    pinned: bool | None = None
    service_type: ServiceType | None = None
    site: Site | None = None
    duration_minutes: int | None = Field(default=None, ge=10, le=12 * 60)
    window: Window | None = None
    vehicle: VehicleIn | None = None
    insurance: Insurance | None = None
    notes: str | None = Field(default=None, max_length=4000)
    branch_id: Id | None = None


class ScheduleRequest(Strict):
    technician_id: Id | None
    start: Instant
    override_reason: str | None = Field(
        default=None,
        max_length=2000,
        description="Force a placement with travel, hours, window or skill conflicts; audited",
    )


TransitionAction = Literal[
    "start_travel", "start_work", "complete", "invoice", "cancel", "unschedule"
]


class TransitionRequest(Strict):
    action: TransitionAction
    reason: str | None = Field(default=None, max_length=2000)
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)


class CustomerContact(BaseModel):
    id: int
    name: str
    phone: str | None
    email: str | None


class JobRead(BaseModel):
    """The office's and the technician's view. ``customer`` is the contact block: always for the
    office, for the assigned technician only while the job is active (scheduled to in progress)."""

    id: int
    state: str
    customer_id: Id
    service_type: str
    site: Site
    duration_minutes: int
    window: Window | None
    vehicle: VehicleRead
    insurance: Insurance | None
    notes: str
    technician_id: int | None
    branch_id: int | None
    scheduled_start: datetime | None
    scheduled_end: datetime | None
    labor_started_at: datetime | None
    labor_ended_at: datetime | None
    labor_minutes: int | None
    cancel_reason: str | None
    created_at: datetime
    updated_at: datetime
    customer: CustomerContact | None = None
    pinned: bool = False
    override_reason: str | None = None

    @classmethod
    def of(cls, job: Job, contact: Customer | None = None) -> JobRead:
        window = Window.of(job)
        insurance = (
            Insurance(
                carrier=job.insurance_carrier,
                claim_number=job.claim_number,
                policy_number=job.policy_number,
                deductible_cents=job.deductible_cents or 0,
            )
            if job.insurance_carrier
            else None
        )
        labor = None
        if job.labor_started_at and job.labor_ended_at:
            labor = round((job.labor_ended_at - job.labor_started_at).total_seconds() / 60)
        v = job.vehicle
        return cls(
            id=job.id,
            state=job.state,
            customer_id=job.customer_id,
            service_type=job.service_type,
            site=Site(address=job.site_address, lat=job.site_lat, lon=job.site_lon),
            duration_minutes=job.duration_minutes,
            window=window,
            vehicle=VehicleRead(year=v.year, make=v.make, model=v.model, vin=v.vin),
            insurance=insurance,
            notes=job.notes,
            technician_id=job.technician_id,
            branch_id=job.branch_id,
            scheduled_start=job.scheduled_start,
            scheduled_end=job.scheduled_end,
            labor_started_at=job.labor_started_at,
            labor_ended_at=job.labor_ended_at,
            labor_minutes=labor,
            cancel_reason=job.cancel_reason,
            pinned=job.pinned,
            override_reason=job.override_reason,
            created_at=job.created_at,
            updated_at=job.updated_at,
            customer=CustomerContact(
                id=contact.id, name=contact.name, phone=contact.phone, email=contact.email
            )
            if contact
            else None,
        )


Progress = Literal["queued", "on_the_way", "arrived", "working", "done", "cancelled"]
PROGRESS: dict[str, Progress] = {
    "quoted": "queued",
    "scheduled": "queued",
    "en_route": "on_the_way",
    "in_progress": "working",
    "completed": "done",
    "invoiced": "done",
    "cancelled": "cancelled",
}


class TechnicianCard(BaseModel):
    first_name: str
    photo_url: str | None = None


class VehicleCard(BaseModel):
    year: int
    make: str
    model: str


class JobCustomerView(BaseModel):
    """What a customer sees of their own job: progress, who is coming, when. Nothing internal
    (notes, other jobs, the technician's whereabouts outside a trip to them)."""

    id: int
    state: str
    progress: Progress
    service_type: str
    site_address: str
    vehicle: VehicleCard
    window: Window | None
    scheduled_start: datetime | None
    scheduled_end: datetime | None
    eta: datetime | None
    late_minutes: float = 0.0
    technician: TechnicianCard | None

    @classmethod
    def of(cls, job: Job, technician: Technician | None) -> JobCustomerView:
        window = Window.of(job)
        v = job.vehicle
        eta = customer_eta(job)
        promised = job.window_end or job.scheduled_start
        late = max(0.0, (eta - promised).total_seconds() / 60) if eta and promised else 0.0
        return cls(
            id=job.id,
            state=job.state,
            progress=progress_of(job),
            service_type=job.service_type,
            site_address=job.site_address,
            vehicle=VehicleCard(year=v.year, make=v.make, model=v.model),
            window=window,
            scheduled_start=job.scheduled_start,
            scheduled_end=job.scheduled_end,
            eta=eta,
            late_minutes=round(late, 1),
            technician=TechnicianCard(first_name=technician.name.split()[0])
            if technician and job.state != "cancelled"
            else None,
        )


def customer_eta(job: Job) -> datetime | None:
    """The arrival time the customer is told: the live estimate while driving to them, else
    the projection last sent in a running-late message, else the booked start."""
    if job.state not in ("scheduled", "en_route") or job.arrived_at is not None:
        return None
    if job.state == "en_route" and job.eta is not None:
        # The later of the live estimate and what a running-late message said.
        return max(job.eta, job.late_notice_eta or job.eta)
    return job.late_notice_eta or job.scheduled_start


def progress_of(job: Job) -> Progress:
    if job.state == "en_route" and job.arrived_at is not None:
        return "arrived"
    return PROGRESS[job.state]

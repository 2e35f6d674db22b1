"""Feedback bodies: customers' ratings, staff pulse answers, feature polls, the admin summary."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

Comment = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]
Score = Annotated[int, Field(ge=1, le=5)]


class FeedbackIn(BaseModel):
    """A customer's answer: ``rating`` (1-5, after the work) or ``arrival`` (on time or not)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["rating", "arrival"]
    rating: Score | None = None
    on_time: bool | None = None
    comment: Comment = ""

    @model_validator(mode="after")
    def _answered(self) -> Self:
        if self.kind == "rating" and self.rating is None:
            raise ValueError("a rating needs 'rating' from 1 to 5")
        if self.kind == "arrival" and self.on_time is None:
            raise ValueError("the arrival question needs 'on_time' (true or false)")
        return self


class FeedbackRead(BaseModel):
    kind: str
    rating: int | None
    on_time: bool | None
    comment: str
    created_at: datetime


class SurveyState(BaseModel):
    """Which questions the tracking page may ask now, and what was already answered."""

    rating_open: bool
    arrival_open: bool
    rating: int | None = None
    comment: str = ""
    on_time: bool | None = None


class FeedbackItem(BaseModel):
    """One rating on the admin list, with what it is judged against."""

    job_id: int
    technician: str
    rating: int
    comment: str
    sentiment: float | None
    mood: str | None
    late_minutes: float
    created_at: datetime


PulseQuestion = Literal["schedule_realistic"]
PULSE_PROMPTS: dict[str, str] = {"schedule_realistic": "Was today's schedule realistic?"}


class PulseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: PulseQuestion = "schedule_realistic"
    score: Score
    comment: Comment = ""


class PulseRead(BaseModel):
    day: date
    question: str
    score: int
    comment: str


class PulseToday(BaseModel):
    day: date
    question: str
    prompt: str
    answer: PulseRead | None


class PollIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=200)]
    options: list[
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
    ] = Field(min_length=2, max_length=12)

    @model_validator(mode="after")
    def _distinct(self) -> Self:
        if len({o.casefold() for o in self.options}) != len(self.options):
            raise ValueError("the options must differ from each other")
        return self


class PollUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    open: bool


class VoteIn(BaseModel):
    """Option indexes, most wanted first; options left out count as unranked."""

    model_config = ConfigDict(extra="forbid")

    ranking: list[Annotated[int, Field(ge=0, le=11)]] = Field(min_length=1, max_length=12)


class OptionResult(BaseModel):
    index: int
    option: str
    points: int
    first_choices: int
    place: int


class PollRead(BaseModel):
    id: int
    question: str
    options: list[str]
    open: bool
    voters: int
    my_ranking: list[int] | None
    results: list[OptionResult]
    created_at: datetime


class GroupRead(BaseModel):
    label: str
    count: int
    average: float


class PulseGroup(BaseModel):
    role: str
    answers: int
    average: float | None


class FeedbackSummary(BaseModel):
    since: date
    until: date
    requests: int
    responses: int
    response_rate: float | None
    average: float | None
    by_technician: list[GroupRead]
    by_week: list[GroupRead]
    moods: dict[str, int]
    rating_vs_lateness: float | None
    rating_vs_notify_delay: float | None
    arrival_on_time_rate: float | None
    pulse: list[PulseGroup]

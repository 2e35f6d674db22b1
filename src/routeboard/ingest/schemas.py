"""The one normalised availability report, whatever sent it, and the answer per report."""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from routeboard.db import Id
from routeboard.jobs.schemas import Instant

Source = Literal["app", "gps", "mqtt", "webhook", "manual"]
DeviceStatus = Literal["available", "en_route", "on_site", "working", "break", "off_duty"]
MAX_BATCH = 1000
# A device's extra fields are kept with each report; a few kilobytes is plenty for them.
MAX_ATTRIBUTES_BYTES = 4096
# What a refused report keeps of its payload, as evidence for the sender.
MAX_KEPT_PAYLOAD_BYTES = 65_536


def json_problem(value: Any) -> str | None:
    """Why ``value`` cannot be stored as JSON on every database, or None.

    Python's parser accepts ``NaN``, ``Infinity`` and ``1e400`` (infinite), which PostgreSQL's
    JSON refuses, as it refuses a NUL character in any string.
    """
    if isinstance(value, float) and not math.isfinite(value):
        return f"{value} is not a finite number"
    if isinstance(value, str) and "\x00" in value:
        return "a text contains a NUL character"
    if isinstance(value, dict):
        for key, item in value.items():
            problem = json_problem(key) or json_problem(item)
            if problem:
                return problem
    if isinstance(value, list):
        for item in value:
            problem = json_problem(item)
            if problem:
                return problem
    return None


def storable(value: Any) -> Any:
    """``value`` made safe to keep as JSON: non-finite numbers as their names, NUL characters
    dropped, and anything too large kept as a truncated text."""

    def clean(item: Any) -> Any:
        if isinstance(item, float) and not math.isfinite(item):
            return str(item)
        if isinstance(item, str):
            return item.replace("\x00", "")
        if isinstance(item, dict):
            return {clean(str(k)): clean(v) for k, v in item.items()}
        if isinstance(item, list):
            return [clean(v) for v in item]
        return item

    cleaned = clean(value)
    text = json.dumps(cleaned)
    if len(text) > MAX_KEPT_PAYLOAD_BYTES:
        return {"truncated": text[:MAX_KEPT_PAYLOAD_BYTES], "bytes": len(text)}
    return cleaned


class IngestEvent(BaseModel):
    """``{event_id, technician_id, kind, status?, lat?, lon?, ..., recorded_at, source}``.

    ``event_id`` is the sender's own id: with ``source`` it makes a report unique, so a retried
    batch is answered ``duplicate`` instead of counted twice.
    """

    model_config = ConfigDict(extra="forbid")

    event_id: Annotated[str, Field(min_length=1, max_length=100)]
    technician_id: Id
    kind: Literal["status", "location", "heartbeat"]
    status: DeviceStatus | None = None
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    accuracy_m: float | None = Field(default=None, ge=0, le=100_000)
    speed_mps: float | None = Field(default=None, ge=0, le=100)
    heading: float | None = Field(default=None, ge=0, lt=360)
    battery: float | None = Field(default=None, ge=0, le=100, description="Percent")
    recorded_at: Instant
    source: Source
    attributes: dict[str, Any] = Field(default_factory=dict, max_length=50)

    @field_validator("attributes")
    @classmethod
    def _storable(cls, value: dict[str, Any]) -> dict[str, Any]:
        problem = json_problem(value)
        if problem:
            raise ValueError(problem)
        if len(json.dumps(value)) > MAX_ATTRIBUTES_BYTES:
            raise ValueError(f"attributes are over {MAX_ATTRIBUTES_BYTES} bytes as JSON")
        return value

    @model_validator(mode="after")
    def _complete(self) -> Self:
        if self.kind == "status" and self.status is None:
            raise ValueError("a status report needs a status")
        if (self.lat is None) != (self.lon is None):
            raise ValueError("lat and lon come together")
        if self.kind == "location" and self.lat is None:
            raise ValueError("a location report needs lat and lon")
        return self


class IngestBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Each report is validated on its own (even one that is not an object): one bad report must
    # not cost the other 999.
    events: list[Any] = Field(min_length=1, max_length=MAX_BATCH)


class IngestResult(BaseModel):
    index: int
    event_id: str | None
    outcome: Literal["accepted", "duplicate", "rejected"]
    # False for an accepted report older than what is already known: kept, not applied.
    applied: bool = False
    reason: str | None = None
    detail: str | None = None


class IngestAnswer(BaseModel):
    accepted: int
    duplicates: int
    rejected: int
    results: list[IngestResult]


class RejectedRead(BaseModel):
    id: int
    source: str | None
    event_id: str | None
    technician_id: int | None
    reason: str
    detail: str
    payload: Any
    received_at: datetime

"""Technicians working through the demo day, tapping their phones over the real API.

The simulator signs in as each technician and, on a clock that starts at the server's "now"
(the demo's day, whatever the real date) and runs ``speed`` times faster, starts driving to the
next job when it is time to leave, arrives after the estimated drive, takes the before photo,
works for the job's duration, takes the after photo, has the customer sign, and finishes.
Everything goes through HTTP, exactly as a phone would, so the board sees each tap live.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import logging
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Protocol
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import aiomqtt
import httpx
from PIL import Image

from routeboard.demo import data
from routeboard.travel.estimate import Point, estimate

log = logging.getLogger(__name__)


def _picture(fmt: str, colour: str) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), colour).save(buf, fmt)
    return buf.getvalue()


@dataclass
class Technician:
    username: str
    headers: dict[str, str]
    home: Point
    technician_id: int
    # Simulated instants at which the current job's steps began.
    since: dict[int, datetime] = field(default_factory=dict)
    # Where the current drive began, and where the van is now.
    origin: Point | None = None
    position: Point | None = None
    reports: int = 0


class GpsSink(Protocol):
    async def send(self, tech: Technician, report: dict[str, Any]) -> None: ...


class HttpGps:
    """Positions to the batch endpoint, with the phone's own key."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def send(self, tech: Technician, report: dict[str, Any]) -> None:
        r = await self.client.post(
            "/api/v1/ingest/events",
            json={"events": [report]},
            headers={"X-API-Key": data.device_key(tech.username)},
        )
        r.raise_for_status()


class MqttGps:
    """Positions published to the broker, one message per fix, on the technician's topic."""

    def __init__(self, client: aiomqtt.Client, pattern: str) -> None:
        self.client = client
        self.pattern = pattern

    async def send(self, tech: Technician, report: dict[str, Any]) -> None:
        topic = self.pattern.replace("+", str(tech.technician_id), 1)
        await self.client.publish(topic, json.dumps(report), qos=1)


@dataclass
class Simulator:
    client: httpx.AsyncClient
    tz: ZoneInfo
    speed: float = 30.0
    gps: GpsSink | None = None  # None: the batch endpoint over HTTP
    technicians: list[Technician] = field(default_factory=list)
    taps: int = 0
    # The server's clock when the simulation began, and this loop's time then: the phones keep
    # the server's time (as the technician app does), never the machine's date.
    opening: datetime | None = None
    started: float = 0.0

    @property
    def day(self) -> date:
        """The server's day when the simulation began, in the business zone."""
        assert self.opening is not None, "sign in first"
        return self.opening.astimezone(self.tz).date()

    def _elapsed(self) -> timedelta:
        return timedelta(seconds=asyncio.get_running_loop().time() - self.started)

    def server_now(self) -> datetime:
        """The server's time now, as the phone's corrected clock reads it."""
        assert self.opening is not None, "sign in first"
        return self.opening + self._elapsed()

    def now(self) -> datetime:
        """The simulated day's time: the server's opening, ``speed`` times faster since."""
        assert self.opening is not None, "sign in first"
        return self.opening + self._elapsed() * self.speed

    async def sign_in(self) -> None:
        for seed in data.TECHNICIANS:
            username = seed.name.split()[0].lower()
            r = await self.client.post(
                "/api/v1/auth/token",
                data={"username": username, "password": data.TECHNICIAN_PASSWORD},
            )
            r.raise_for_status()
            headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
            home = Point(seed.home_base.lat, seed.home_base.lon)
            me = (await self.client.get("/api/v1/me", headers=headers)).json()
            tech = Technician(username, headers, home, me["technician_id"], position=home)
            self.technicians.append(tech)
            if self.opening is None:
                day = (await self.client.get("/api/v1/tech/day", headers=headers)).json()
                self.opening = datetime.fromisoformat(day["server_time"])
                self.started = asyncio.get_running_loop().time()

    async def step(self) -> None:
        """One look at every technician's day; at most one tap each."""
        for tech in self.technicians:
            try:
                await self._advance(tech)
            except httpx.HTTPError as exc:
                log.warning("simulated %s could not act: %s", tech.username, exc)

    async def report_positions(self) -> None:
        """Every phone's GPS fix, as a tracker app would send it."""
        for tech in self.technicians:
            try:
                await self._report_position(tech)
            except Exception as exc:  # a dropped fix is what GPS does; the next one follows
                log.warning("simulated %s could not report: %s", tech.username, exc)

    async def _report_position(self, tech: Technician) -> None:
        # Stamped with the server's time, not the simulated one: the server refuses reports from
        # its future, and the simulated day runs ahead of it.
        if tech.position is None:
            return
        tech.reports += 1
        report = {
            "event_id": f"sim-{tech.username}-{self.server_now():%Y%m%d%H%M%S%f}",
            "technician_id": tech.technician_id,
            "kind": "location",
            "lat": round(tech.position.lat, 6),
            "lon": round(tech.position.lon, 6),
            "accuracy_m": 8,
            "recorded_at": self.server_now().isoformat(),
            "source": "gps",
        }
        await (self.gps or HttpGps(self.client)).send(tech, report)

    async def _advance(self, tech: Technician) -> None:
        r = await self.client.get(
            "/api/v1/jobs", params={"date": self.day.isoformat(), "limit": 50}, headers=tech.headers
        )
        jobs = sorted(r.json()["items"], key=lambda j: j["scheduled_start"] or "")
        now = self.now()
        active = [j for j in jobs if j["state"] in ("en_route", "in_progress")]
        if active:
            await self._work(tech, active[0], now)
            return
        here = tech.home
        for job in jobs:
            if job["state"] in ("completed", "invoiced"):
                here = Point(job["site"]["lat"], job["site"]["lon"])
            if job["state"] != "scheduled":
                continue
            site = Point(job["site"]["lat"], job["site"]["lon"])
            drive = estimate(here, site, now).minutes
            start = datetime.fromisoformat(job["scheduled_start"])
            if now >= start - timedelta(minutes=drive):
                await self._tap(tech, job["id"], "start_travel", site)
                tech.since[job["id"]] = now
                tech.origin = here
            tech.position = here
            return

    async def _work(self, tech: Technician, job: dict[str, Any], now: datetime) -> None:
        jid = job["id"]
        began = tech.since.setdefault(jid, now)
        site = Point(job["site"]["lat"], job["site"]["lon"])
        if job["state"] == "en_route":
            # Along the straight line from where the drive began, at the estimated pace.
            origin = tech.origin or tech.home
            drive = max(estimate(origin, site, began).minutes, 1.0)
            share = min((now - began) / timedelta(minutes=drive), 1.0)
            tech.position = Point(
                origin.lat + (site.lat - origin.lat) * share,
                origin.lon + (site.lon - origin.lon) * share,
            )
            if now - began >= timedelta(minutes=20):
                await self._tap(tech, jid, "start_work", site)
                await self._photo(tech, jid, "before")
                tech.since[jid] = now
            return
        tech.position = site
        if now - began >= timedelta(minutes=job["duration_minutes"]):
            await self._photo(tech, jid, "after")
            signature = base64.b64encode(_picture("PNG", "white")).decode()
            await self.client.post(
                f"/api/v1/jobs/{jid}/signature",
                json={"signer_name": "Demo Customer", "image_base64": signature},
                headers=tech.headers,
            )
            await self._tap(tech, jid, "complete", site)

    async def _photo(self, tech: Technician, jid: int, kind: str) -> None:
        colour = "steelblue" if kind == "before" else "seagreen"
        await self.client.post(
            f"/api/v1/jobs/{jid}/photos",
            files={"file": (f"{kind}.jpg", _picture("JPEG", colour), "image/jpeg")},
            data={"kind": kind},
            headers=tech.headers,
        )

    async def _tap(self, tech: Technician, jid: int, action: str, where: Point) -> None:
        r = await self.client.post(
            f"/api/v1/jobs/{jid}/transitions",
            json={"action": action, "lat": where.lat, "lon": where.lon},
            headers=tech.headers,
        )
        if r.status_code == 200:
            self.taps += 1
            log.info("%s: %s on job %s", tech.username, action, jid)
        else:
            log.warning("%s: %s on job %s refused: %s", tech.username, action, jid, r.text)


async def run(
    base_url: str,
    *,
    tz: ZoneInfo,
    speed: float,
    every: float = 2.0,
    gps_every: float = 2.0,
    mqtt_url: str | None = None,
    mqtt_topic: str = "routeboard/technicians/+/events",
) -> None:
    """Drive the demo day until cancelled: taps every ``every`` seconds, a GPS fix from every
    phone every ``gps_every`` seconds, over HTTP or (with ``mqtt_url``) through the broker."""
    async with AsyncExitStack() as stack:
        client = await stack.enter_async_context(httpx.AsyncClient(base_url=base_url, timeout=10))
        gps: GpsSink = HttpGps(client)
        if mqtt_url:
            parts = urlsplit(mqtt_url)
            broker = aiomqtt.Client(parts.hostname or "127.0.0.1", parts.port or 1883,
                                    username=parts.username, password=parts.password)  # fmt: skip
            gps = MqttGps(await stack.enter_async_context(broker), mqtt_topic)
        sim = Simulator(client, tz, speed, gps=gps)
        await sim.sign_in()

        async def positions() -> None:
            while True:
                await sim.report_positions()
                await asyncio.sleep(gps_every)

        reporter = asyncio.create_task(positions())
        try:
            while True:
                await sim.step()
                await asyncio.sleep(every)
        finally:
            reporter.cancel()

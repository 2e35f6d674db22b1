"""Settings: the only reader of the environment (prefix ``ROUTEBOARD_``)."""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from functools import cached_property
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ROUTEBOARD_", env_file=None, extra="ignore")

    data_dir: Path = Field(default=Path("data"), description="Where SQLite, uploads and keys live")
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy async URL; empty means a SQLite file in the data directory",
    )
    business_timezone: str = Field(
        default="America/Chicago", description="Zone for working hours and 'today'"
    )
    jwt_secret: str | None = Field(
        default=None,
        description="HMAC key for API tokens; generated into the data directory when unset",
    )
    access_token_minutes: int = Field(default=15, ge=1, description="Lifetime of an API token")
    refresh_token_days: int = Field(
        default=30, ge=1, description="Lifetime of an API refresh token"
    )
    web_session_hours: int = Field(default=12, ge=1, description="Lifetime of a page sign-in")
    login_max_failures: int = Field(
        default=5, ge=1, description="Failed sign-ins for one username before it is locked"
    )
    lockout_minutes: int = Field(default=15, ge=1, description="How long a locked username waits")
    login_attempts_per_minute: int = Field(
        default=30, ge=1, description="Sign-in attempts accepted per client address per minute"
    )
    tracking_link_hours: int = Field(default=72, ge=1, description="Lifetime of a customer link")
    cors_origins: list[str] = Field(
        default_factory=list, description="Origins allowed to call the API from a browser"
    )
    max_body_bytes: int = Field(
        default=12 * 1024 * 1024, ge=1024, description="Largest request body accepted"
    )
    max_upload_bytes: int = Field(default=10 * 1024 * 1024, ge=1024, description="Photo size cap")
    public_url: str = Field(default="http://127.0.0.1:8000", description="Base URL in links")
    shop_name: str = Field(default="Routeboard Auto Glass", description="Shown on documents")
    shop_phone: str | None = Field(
        default=None, description="The shop's phone: call and text buttons on the tracking page"
    )

    travel_provider: Literal["estimate", "osrm", "google"] = Field(
        default="estimate", description="Travel times: offline estimate, an OSRM server, or Google"
    )
    osrm_url: str = Field(default="http://127.0.0.1:5000", description="OSRM server base URL")
    google_maps_api_key: str | None = Field(default=None, description="Distance Matrix API key")
    google_maps_url: str = Field(
        default="https://maps.googleapis.com", description="Google Maps API base URL"
    )
    travel_timeout_seconds: float = Field(
        default=3.0, gt=0, description="After this, travel falls back to the estimate"
    )
    travel_cache_seconds: int = Field(
        default=900, ge=0, description="How long a travel time is kept"
    )

    webhook_secret: str | None = Field(
        default=None,
        description="Shared secret for signed availability webhooks; unset: the webhook is off",
    )
    mqtt_url: str | None = Field(
        default=None, description="MQTT broker for device reports (mqtt://user:pass@host:1883)"
    )
    mqtt_topic: str = Field(
        default="routeboard/technicians/+/events", description="Topic pattern to subscribe to"
    )
    mqtt_client_id: str | None = Field(
        default=None,
        max_length=64,
        description="This instance's persistent MQTT session (one per instance, stable across "
        "restarts): the broker keeps what is published while it is away; unset: a clean session",
    )
    mqtt_share_group: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_-]{1,64}$",
        description="Subscribe as a member of this shared subscription ($share/<group>/...), so "
        "that several instances split the reports instead of each taking all of them",
    )
    geofence_site_radius_m: float = Field(
        default=150, ge=25, le=5000, description="Circle around a job site"
    )
    geofence_dwell_seconds: float = Field(
        default=60, ge=0, le=3600, description="Inside (or out) this long before it counts"
    )
    geofence_exit_factor: float = Field(
        default=1.2, ge=1, le=3, description="Leaving means beyond this many radii"
    )
    eta_every_seconds: float = Field(
        default=30, ge=0, le=3600, description="At most one ETA per technician per this long"
    )
    late_alert_minutes: float = Field(
        default=5, ge=0, le=240, description="A projected arrival this far past the promise alerts"
    )
    availability_ttl_seconds: int = Field(
        default=300, ge=30, le=86_400, description="No report for this long: offline"
    )
    state_cache_ttl_seconds: int = Field(
        default=300,
        ge=1,
        le=86_400,
        description="How long a cached technician state is kept (memory, or Redis when set)",
    )

    sms_url: str | None = Field(
        default=None,
        description="Apprise URL for SMS (twilio://SID:TOKEN@FROM); unset: the log channel",
    )
    email_url: str | None = Field(
        default=None,
        description="Apprise URL for email (mailtos://user:pass@host?from=...); unset: the log",
    )
    quiet_hours: str = Field(
        default="21:00-08:00",
        pattern=r"^(\d{2}:\d{2}-\d{2}:\d{2})?$",
        description="No SMS to customers between these local times (empty: none)",
    )
    late_notice_minutes: float = Field(
        default=10,
        ge=0,
        le=240,
        description="Tell the customer when the projected arrival misses the window by this much",
    )
    late_notice_change_minutes: float = Field(
        default=15,
        ge=1,
        le=240,
        description="Another running-late message only if the estimate moves this much",
    )
    feedback_delay_minutes: int = Field(
        default=60, ge=0, le=10_080, description="The survey request goes this long after work ends"
    )
    notify_worker: bool = Field(
        default=True,
        description="Send customer messages from this process (off: run `routeboard worker`)",
    )
    payment_provider: Literal["none", "memory", "stripe"] = Field(
        default="none",
        description="Card payments: none (cash/cheque/terminal only), memory (demo), stripe",
    )
    stripe_secret_key: str | None = Field(default=None, description="Stripe secret API key")
    stripe_webhook_secret: str | None = Field(
        default=None, description="Signing secret of the Stripe webhook endpoint (whsec_...)"
    )
    stripe_api_url: str = Field(default="https://api.stripe.com", description="Stripe API base")
    currency: str = Field(default="usd", pattern=r"^[a-z]{3}$", description="ISO 4217, lower")

    redis_url: str | None = Field(
        default=None, description="Redis for live events across instances; unset: in-process"
    )
    event_retention_days: int = Field(default=7, ge=1, description="How long events are replayable")
    stream_heartbeat_seconds: float = Field(default=15.0, gt=0, description="SSE keep-alive period")
    stream_coalesce_ms: float = Field(
        default=20.0,
        ge=0,
        le=1000,
        description="Events for one stream within this window go out in one write",
    )
    stream_max_seconds: float = Field(
        default=1800.0, gt=0, description="After this a stream asks its client to reconnect"
    )
    login_username_max_failures: int = Field(
        default=50,
        ge=1,
        description="Failed sign-ins for one username from all addresses before it is locked "
        "for addresses it has never signed in from",
    )
    password_hash_concurrency: int = Field(
        # One core is left to the event loop: on two cores, two hashes at once doubled the
        # ingest tail during a sign-in flood (bench/signin_flood.py).
        default_factory=lambda: max(1, (os.cpu_count() or 2) - 1),
        ge=1,
        le=64,
        description="Password hashes computed at once (~90 ms CPU each); default: cores - 1",
    )
    forwarded_allow_ips: str = Field(
        default="127.0.0.1",
        description="Reverse proxies (comma-separated addresses or networks, * for any) whose "
        "X-Forwarded-For and X-Forwarded-Proto are believed",
    )

    @cached_property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.business_timezone)

    @property
    def availability_ttl(self) -> timedelta:
        return timedelta(seconds=self.availability_ttl_seconds)

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'routeboard.sqlite3').resolve()}"

    @property
    def secure_cookies(self) -> bool:
        return self.public_url.startswith("https://")

    @property
    def upload_dir(self) -> Path:
        return self.data_dir / "uploads"

    def signing_key(self) -> str:
        """The JWT key: configured, or generated once and kept beside the database."""
        if self.jwt_secret:
            return self.jwt_secret
        path = self.data_dir / "jwt.key"
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(48))
            path.chmod(0o600)
        return path.read_text().strip()

"""What the server processes leak and whom they believe: credentials in URLs are kept out of
uvicorn's logs, and the client's address is taken from the configured proxies only."""

from __future__ import annotations

import asyncio
import io
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from typer.testing import CliRunner
from uvicorn.logging import AccessFormatter

from routeboard import app as app_module
from routeboard import cli
from routeboard.logs import RedactSecrets

ACCESS = '%s - "%s %s HTTP/%s" %d'  # uvicorn's access record: its args and their order
CLIENT = "203.0.113.9:51000"
TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJqaWQiOjF9.c2lnbmF0dXJl"
DEVICE_KEY = "rbk_0000device01_device-secret-for-tests-0123456789"


def access_line(target: str) -> str:
    """``target`` logged as uvicorn logs a request, through the filter and uvicorn's formatter."""
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 0, ACCESS, (CLIENT, "GET", target, "1.1", 200),
        None,
    )  # fmt: skip
    assert RedactSecrets().filter(record)
    formatter = AccessFormatter('%(client_addr)s - "%(request_line)s" %(status_code)s', None, "%")
    return formatter.format(record)


@pytest.mark.parametrize(
    ("target", "secret", "kept"),
    [
        (f"/api/v1/ingest/osmand?id={DEVICE_KEY}&lat=32.78&lon=-96.8", DEVICE_KEY, "lat=32.78"),
        # The application reads %69d as id: so must the filter.
        (f"/api/v1/ingest/osmand?lat=32.78&%69d={DEVICE_KEY}", DEVICE_KEY, "lat=32.78&"),
        (f"/api/v1/ingest/osmand/?id={DEVICE_KEY}", DEVICE_KEY, "/osmand/?id=[redacted]"),
        (f"/track/{TOKEN}", TOKEN, "GET /track/[redacted] HTTP/1.1"),
        (f"/api/v1/track/{TOKEN}/stream?last_event_id=5", TOKEN, "/stream?last_event_id=5"),
        (f"/api/v1/track/{TOKEN}/invoice.pdf", TOKEN, "/track/[redacted]/invoice.pdf"),
        (f"/api/v1/ws?topics=board&access_token={TOKEN}", TOKEN, "topics=board&access_token="),
    ],
)
def test_access_log_lines_carry_no_credentials(target: str, secret: str, kept: str) -> None:
    line = access_line(target)
    assert secret not in line
    assert "[redacted]" in line
    assert kept in line
    assert line.startswith(f'{CLIENT} - "GET ') and line.endswith(" 200 OK")


def test_ordinary_ids_and_paths_are_logged_as_they_are() -> None:
    for target in ("/api/v1/jobs?id=5&page=2", "/api/v1/jobs/12/tracking-links", "/healthz"):
        assert f" {target} " in access_line(target)


def test_websocket_handshakes_in_the_error_log_carry_no_bearer_token() -> None:
    record = logging.LogRecord(
        "uvicorn.error", logging.INFO, __file__, 0, '%s - "WebSocket %s" [accepted]',
        (CLIENT, f"/api/v1/ws?access_token={TOKEN}"), None,
    )  # fmt: skip
    assert RedactSecrets().filter(record)
    assert (
        record.getMessage()
        == f'{CLIENT} - "WebSocket /api/v1/ws?access_token=[redacted]" [accepted]'
    )


LOGGERS = ("routeboard", "httpx", "uvicorn", "uvicorn.access", "uvicorn.error")


@pytest.fixture
def run_calls(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[list[uvicorn.Config]]:
    """The CLI run in-process with its own data directory; ``uvicorn.run`` builds its Config
    (which sets up uvicorn's logging, as the real one does) and records it instead of serving."""
    for name in [k for k in os.environ if k.startswith("ROUTEBOARD_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("ROUTEBOARD_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("ROUTEBOARD_FORWARDED_ALLOW_IPS", "10.0.0.5, 10.1.0.0/16")
    monkeypatch.setenv("ROUTEBOARD_LOGIN_ATTEMPTS_PER_MINUTE", "1")
    calls: list[uvicorn.Config] = []

    def run(app: object, **kwargs: object) -> None:
        calls.append(uvicorn.Config(app, **kwargs))  # type: ignore[arg-type]

    monkeypatch.setattr(uvicorn, "run", run)
    saved = {
        name: (lg.handlers[:], lg.filters[:], lg.level, lg.propagate)
        for name in LOGGERS
        for lg in [logging.getLogger(name)]
    }
    yield calls
    for name, (handlers, filters, level, propagate) in saved.items():
        lg = logging.getLogger(name)
        lg.handlers[:], lg.filters[:], lg.level, lg.propagate = handlers, filters, level, propagate


def logged_request(target: str) -> str:
    """What the access logger, as uvicorn configured it and the CLI left it, lets through."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(AccessFormatter('%(client_addr)s - "%(request_line)s" %(status_code)s'))
    logger = logging.getLogger("uvicorn.access")
    logger.setLevel(logging.INFO)  # the worker has no uvicorn to set it; the fixture restores it
    logger.addHandler(handler)
    try:
        logger.info(ACCESS, CLIENT, "GET", target, "1.1", 200)
    finally:
        logger.removeHandler(handler)
    return out.getvalue()


def assert_logs_redacted() -> None:
    line = logged_request(f"/api/v1/ingest/osmand?id={DEVICE_KEY}")
    assert "/api/v1/ingest/osmand?id=[redacted]" in line
    assert DEVICE_KEY not in line


async def signs_in_as_distinct_clients(config: uvicorn.Config, peer: str) -> bool:
    """Two sign-in attempts through uvicorn's proxy handling, from ``peer`` forwarding two
    different clients, with one attempt allowed per client per minute: are both let through
    to the password check (401) rather than the second throttled as the same client (429)?"""
    config.load()
    transport = httpx.ASGITransport(app=config.loaded_app, client=(peer, 40_000))
    codes = []
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        for forwarded in ("192.0.2.10", "192.0.2.11"):
            r = await client.post(
                "/api/v1/auth/token",
                data={"username": "nobody", "password": "not-the-password"},
                headers={"X-Forwarded-For": forwarded},
            )
            codes.append(r.status_code)
    await config.app.state.engine.dispose()  # type: ignore[union-attr]
    await config.app.state.http.aclose()  # type: ignore[union-attr]
    return codes == [401, 401]


def test_serve_believes_the_configured_proxies_only_and_redacts_its_logs(
    run_calls: list[uvicorn.Config],
) -> None:
    result = CliRunner().invoke(cli.app, ["serve", "--port", "8123"])
    assert result.exit_code == 0, result.output
    [config] = run_calls
    assert config.proxy_headers
    assert config.forwarded_allow_ips == "10.0.0.5, 10.1.0.0/16"
    assert asyncio.run(signs_in_as_distinct_clients(config, "10.1.2.3"))
    # The old default, 127.0.0.1, is no longer believed: its header could be anyone's.
    config.loaded = False
    assert not asyncio.run(signs_in_as_distinct_clients(config, "127.0.0.1"))
    assert_logs_redacted()


def test_demo_believes_the_configured_proxies_and_redacts_its_logs(
    run_calls: list[uvicorn.Config], tmp_path: Path
) -> None:
    result = CliRunner().invoke(
        cli.app, ["demo", "--speed", "0", "--data-dir", str(tmp_path / "demo")]
    )
    assert result.exit_code == 0, result.output
    [config] = run_calls
    assert config.proxy_headers
    assert config.forwarded_allow_ips == "10.0.0.5, 10.1.0.0/16"
    assert_logs_redacted()


def test_worker_redacts_its_logs(
    run_calls: list[uvicorn.Config], monkeypatch: pytest.MonkeyPatch
) -> None:
    async def no_messages(app: object, every: float) -> None:
        return None

    monkeypatch.setattr(app_module, "send_messages", no_messages)
    result = CliRunner().invoke(cli.app, ["worker"])
    assert result.exit_code == 0, result.output
    assert_logs_redacted()

"""A real HTTP server around a test app, and a small Server-Sent Events reader."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[str]:
    """``app`` on a real socket (uvicorn, lifespan included) for streaming tests."""
    port = free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="on",
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@dataclass
class Message:
    id: int | None
    event: str
    data: dict[str, Any]


@dataclass
class SSE:
    """Reads one stream; ``comments`` collects keep-alive lines."""

    response: httpx.Response
    lines: AsyncIterator[str]
    comments: list[str] = field(default_factory=list)

    async def next(self, timeout: float = 3.0) -> Message:
        return await asyncio.wait_for(self._next(), timeout)

    async def _next(self) -> Message:
        ident: int | None = None
        event, data = "message", ""
        async for line in self.lines:
            if line == "":
                if data:
                    return Message(ident, event, json.loads(data))
                continue
            if line.startswith(":"):
                self.comments.append(line)
                continue
            name, _, value = line.partition(": ")
            if name == "id":
                ident = int(value)
            elif name == "event":
                event = value
            elif name == "data":
                data += value
        raise EOFError("stream ended")

    async def until(self, last_id: int, timeout: float = 5.0) -> list[Message]:
        """Every message up to and including event id ``last_id``."""
        out: list[Message] = []
        while not out or (out[-1].id or 0) < last_id:
            out.append(await self.next(timeout))
        return out


@asynccontextmanager
async def sse(
    client: httpx.AsyncClient, url: str, headers: dict[str, str], **params: Any
) -> AsyncIterator[SSE]:
    async with client.stream("GET", url, headers=headers, params=params) as response:
        assert response.status_code == 200, await response.aread()
        yield SSE(response, response.aiter_lines())


def wait_ready(base: str, proc: subprocess.Popen[Any], seconds: float = 30) -> None:
    """Block until a `routeboard serve` process answers /readyz (or fail with its output)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if proc.poll() is not None:
            output = proc.stdout or proc.stderr
            raise AssertionError(output.read() if output else f"exited {proc.returncode}")
        assert time.monotonic() < deadline, "server did not become ready"
        time.sleep(0.2)

"""The load generator of bench/stream.py, run as its own processes (never inside a server).

    python bench/stream_load.py subscribe --port P --path /sub --connections 1000 --marker M
    python bench/stream_load.py publish --port P --kind nchan|routeboard --rate 100 --seconds 8

``subscribe`` opens N Server-Sent Events connections over raw asyncio sockets (uvloop), prints
one JSON line when they are open, then counts every frame carrying ``marker`` into 100 ms
buckets. A sample of the connections also parses each frame: the ``@ts=`` send instant embedded
in the payload and the SSE ``id``, for latency. On ``report`` (a stdin line) it prints
everything as one JSON line; on ``quit`` or end of input it exits.

``publish`` sends events over keep-alive HTTP/1.1 at a fixed schedule from a few workers: a
POST to an Nchan publisher, or a PATCH of a Routeboard job's site whose address carries the
``@ts=`` stamp (the job card, and so the event, includes it). It prints one JSON line.

Both sides use the same tiny HTTP code path so the servers are compared, not the clients.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, cast

TS = b"@ts="


def raise_fd_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def install_uvloop() -> str:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - the venv has it (uvicorn[standard])
        return "asyncio"
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return "uvloop"


def emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj, separators=(",", ":")) + "\n")
    sys.stdout.flush()


# --------------------------------------------------------------------------------------------
# Subscribers


@dataclass
class Tally:
    """What all connections received, shared by their protocols."""

    marker: bytes
    buckets: Counter[int] = field(default_factory=Counter)  # 100 ms bucket -> frames
    samples: list[tuple[float, float, int]] = field(default_factory=list)  # sent, received, id
    closed: int = 0
    open: int = 0


class SseClient(asyncio.Protocol):
    def __init__(self, tally: Tally, request: bytes, sampled: bool) -> None:
        self.tally = tally
        self.request = request
        self.sampled = sampled
        self.head = b""
        self.tail = b""
        self.pending = b""
        self.count = 0
        self.status = 0
        self.ready: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        now = time.time()
        if not self.status:
            self.head += data
            end = self.head.find(b"\r\n\r\n")
            if end < 0:
                return
            data = self.head[end + 4 :]
            self.status = int(self.head.split(b" ", 2)[1])
            self.head = b""
            if not self.ready.done():
                self.ready.set_result(self.status)
            if self.status != 200:
                if self.transport is not None:
                    self.transport.close()
                return
            self.tally.open += 1
        marker = self.tally.marker
        chunk = self.tail + data
        found = chunk.count(marker)
        self.tail = chunk[1 - len(marker) :]
        if found:
            self.count += found
            self.tally.buckets[int(now * 10)] += found
        if self.sampled:
            self._parse(data, now)

    def _parse(self, data: bytes, now: float) -> None:
        self.pending += data
        while (end := self.pending.find(b"\n\n")) >= 0:
            frame, self.pending = self.pending[:end], self.pending[end + 2 :]
            if self.tally.marker not in frame:
                continue
            at = frame.find(TS)
            if at < 0:
                continue
            sent = float(frame[at + len(TS) : frame.index(b";", at)])
            ident = -1
            start = frame.find(b"id: ")
            if start >= 0:
                value = frame[start + 4 : frame.index(b"\n", start)]
                ident = int(value) if value.isdigit() else -1
            self.tally.samples.append((sent, now, ident))

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.ready.done():
            self.ready.set_exception(exc or ConnectionError("closed before the response"))
        if self.status == 200:
            self.tally.open -= 1
            self.tally.closed += 1


async def subscribe(args: argparse.Namespace) -> None:
    loop = asyncio.get_running_loop()
    tally = Tally(marker=args.marker.encode())
    headers = "".join(f"{h}\r\n" for h in args.header)
    request = (
        f"GET {args.path} HTTP/1.1\r\nHost: {args.host}:{args.port}\r\n"
        f"Accept: text/event-stream\r\n{headers}\r\n"
    ).encode()
    every = max(1, args.connections // max(1, args.sample)) if args.sample else 0
    clients: list[SseClient] = []
    failures: Counter[str] = Counter()
    gate = asyncio.Semaphore(args.concurrency)

    async def open_one(i: int) -> None:
        async with gate:
            client = SseClient(tally, request, sampled=bool(every) and i % every == 0)
            try:
                await loop.create_connection(lambda: client, args.host, args.port)
                status = await asyncio.wait_for(client.ready, args.connect_timeout)
            except (OSError, TimeoutError, ConnectionError) as exc:
                failures[type(exc).__name__ + ": " + str(exc)[:80]] += 1
                if client.transport is not None:
                    client.transport.close()
                return
            if status != 200:
                failures[f"HTTP {status}"] += 1
                return
            clients.append(client)

    started = time.time()
    await asyncio.gather(*(open_one(i) for i in range(args.connections)))
    emit(
        {
            "connected": len(clients),
            "sampled": sum(c.sampled for c in clients),
            "failed": sum(failures.values()),
            "failures": dict(failures.most_common(3)),
            "connect_seconds": time.time() - started,
        }
    )
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := (await reader.readline()).strip():
        if line == b"report":
            emit(
                {
                    "buckets": {str(k): v for k, v in tally.buckets.items()},
                    "samples": tally.samples,
                    "open": tally.open,
                    "closed": tally.closed,
                    "received": sum(c.count for c in clients),
                    "min_per_connection": min((c.count for c in clients), default=0),
                }
            )
        elif line == b"count":
            emit({"received": sum(c.count for c in clients), "open": tally.open})
        elif line == b"quit":
            break
    for client in clients:
        if client.transport is not None:
            client.transport.close()
    await asyncio.sleep(0.2)


# --------------------------------------------------------------------------------------------
# Publisher


class HttpConnection:
    """Keep-alive HTTP/1.1 requests with Content-Length bodies (all both servers answer)."""

    def __init__(self, host: str, port: int, headers: list[str]) -> None:
        self.host, self.port = host, port
        self.extra = "".join(f"{h}\r\n" for h in headers)
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, body: bytes, kind: str) -> int:
        if self.writer is None or self.reader is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Content-Type: {kind}\r\nContent-Length: {len(body)}\r\n{self.extra}\r\n"
        ).encode()
        self.writer.write(head + body)
        raw = await self.reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        fields = {k.lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:] if x)}
        if "content-length" in fields:
            await self.reader.readexactly(int(fields["content-length"]))
        elif fields.get("transfer-encoding") == "chunked":
            while size := int((await self.reader.readline()).strip(), 16):
                await self.reader.readexactly(size + 2)
            await self.reader.readline()
        if fields.get("connection", "").lower() == "close":
            self.writer.close()
            self.reader = self.writer = None
        return status


async def publish(args: argparse.Namespace) -> None:
    jobs = [int(j) for j in args.jobs.split(",")] if args.jobs else [0]
    workers = len(jobs) if args.kind == "routeboard" else args.workers
    total = int(args.rate * args.seconds)
    start = time.perf_counter() + 0.2
    wall_start = time.time() + 0.2
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    sent_at: list[float] = []
    next_index = 0
    pad = "x" * args.pad

    async def worker(w: int) -> None:
        nonlocal next_index
        conn = HttpConnection(args.host, args.port, args.header)
        while next_index < total:
            n = next_index
            next_index += 1
            delay = start + n / args.rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            stamp = time.time()
            mark = f"@ts={stamp:.6f};seq={n};"
            if args.kind == "routeboard":
                body = json.dumps({"site": {"address": mark, "lat": 33.0, "lon": -96.7}})
                method, path, kind = "PATCH", f"/api/v1/jobs/{jobs[w]}", "application/json"
            else:
                body, method, path, kind = mark + pad, "POST", args.path, "text/plain"
            status = -1
            for _ in range(2):  # a server that closed the connection after an error: retry once
                try:
                    status = await conn.request(method, path, body.encode(), kind)
                    break
                except (OSError, asyncio.IncompleteReadError):
                    conn = HttpConnection(args.host, args.port, args.header)
            statuses[status] += 1
            if 200 <= status < 300:
                latencies.append(time.time() - stamp)
                sent_at.append(stamp)

    await asyncio.gather(*(worker(w) for w in range(workers)))
    latencies.sort()
    emit(
        {
            "planned": total,
            "sent": len(sent_at),
            "statuses": {str(k): v for k, v in statuses.items()},
            "first": min(sent_at, default=wall_start),
            "last": max(sent_at, default=wall_start),
            "wall_start": wall_start,
            "request_p50": latencies[len(latencies) // 2] if latencies else 0.0,
            "request_p99": latencies[int(len(latencies) * 0.99)] if latencies else 0.0,
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("subscribe", "publish"):
        p = sub.add_parser(name)
        p.add_argument("--host", default="127.0.0.1")
        p.add_argument("--port", type=int, required=True)
        p.add_argument("--path", default="/sub")
        p.add_argument("--header", action="append", default=[])
    s = sub.choices["subscribe"]
    s.add_argument("--connections", type=int, default=1000)
    s.add_argument("--sample", type=int, default=50, help="connections that parse every frame")
    s.add_argument("--concurrency", type=int, default=200, help="connections opening at once")
    s.add_argument("--connect-timeout", type=float, default=60.0)
    s.add_argument("--marker", required=True, help="bytes that appear once per counted frame")
    p = sub.choices["publish"]
    p.add_argument("--kind", choices=["nchan", "routeboard"], required=True)
    p.add_argument("--jobs", default="", help="Routeboard job ids, one per worker")
    p.add_argument("--workers", type=int, default=8)
    p.add_argument("--rate", type=float, required=True, help="events per second")
    p.add_argument("--seconds", type=float, required=True)
    p.add_argument("--pad", type=int, default=0, help="Nchan: bytes of padding per message")
    args = parser.parse_args()
    raise_fd_limit()
    install_uvloop()
    asyncio.run(subscribe(args) if args.command == "subscribe" else publish(args))


if __name__ == "__main__":
    main()

"""Live-stream fan-out against nginx + Nchan, measured in the same run with the same client.

    make bench            (or: .venv/bin/python bench/stream.py --help)

Four targets from the fan-out issue, each printed with PASS/FAIL, the figure, the baseline and
the ratio:

* delivery throughput at 1,000 boards (every event to every board, each event committed first):
  at least 0.6x what Nchan delivers, with p99 commit->receipt <= 150 ms at that rate;
* 100 boards at 200 events/s: p99 commit->receipt <= 100 ms;
* 10,000 idle SSE connections at <= 20 KiB each (server VmRSS delta per connection);
* one serialisation per audience: ``Hub.encodings`` per event and ``Hub.deliver`` time per
  delivery, against encoding per connection (in-process micro-benchmark).

Processes: Routeboard is ``uvicorn --factory stream_server:app`` (one worker, uvloop, httptools)
on a temp SQLite file (or ``--db postgresql``); Nchan is our own ``nginx`` (``daemon off``, a
generated config in a temp dir, 127.0.0.1, a free port). Subscribers and publisher are separate
processes (bench/stream_load.py) shared by both servers. Events to Routeboard are real
``PATCH /api/v1/jobs/{id}`` requests that commit; the commit instant comes from a SQLAlchemy
``after_commit`` hook in the bench factory, the receipt instant from the subscriber process.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text

from routeboard.access import event_visible
from routeboard.auth.tokens import hash_password, issue_token
from routeboard.db import make_engine, make_sessionmaker
from routeboard.deps import Actor
from routeboard.events.board import BoardFilter
from routeboard.events.hub import Hub, encode
from routeboard.events.schemas import EventRead, JobCard, JobUpdated
from routeboard.migrate import upgrade
from routeboard.models import AuthSession, Customer, Technician, User

BENCH = Path(__file__).resolve().parent
LOAD = BENCH / "stream_load.py"
PY = sys.executable
JWT = "bench-stream-key-0123456789abcdef0123456789"
NCHAN_MODULE = Path("/usr/lib/nginx/modules/ngx_nchan_module.so")
ISSUE_NCHAN_DELIVERIES = 95_000.0  # "roughly 90-100 thousand" when Nchan cannot be run here
REPEATS = 5


# ------------------------------------------------------------------------------------------
# Reporting


@dataclass
class Verdict:
    name: str
    ok: bool | None  # None: informational
    figure: str
    baseline: str
    ratio: float | None


VERDICTS: list[Verdict] = []


def say(line: str = "") -> None:
    print(line, flush=True)


def verdict(name: str, ok: bool | None, figure: str, baseline: str, ratio: float | None) -> None:
    VERDICTS.append(Verdict(name, ok, figure, baseline, ratio))


def summary() -> None:
    say("\nSummary (ratio = Routeboard / baseline measured in this run)")
    for v in VERDICTS:
        mark = "info" if v.ok is None else ("PASS" if v.ok else "FAIL")
        ratio = "    n/a" if v.ratio is None else f"{v.ratio:7.3f}x"
        say(f"  {mark:<4}  {v.name:<60} {v.figure:<26} baseline {v.baseline:<32} {ratio}")


def pct(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


# ------------------------------------------------------------------------------------------
# Processes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def raise_fd_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # inherited by every child
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        with suppress(FileNotFoundError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with suppress(OSError, IndexError):
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
    return found


def stop(proc: subprocess.Popen[bytes] | subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Subscribers:
    """A subscriber process of stream_load.py holding ``n`` SSE connections."""

    def __init__(
        self,
        port: int,
        path: str,
        n: int,
        marker: str,
        headers: list[str],
        args: argparse.Namespace,
    ) -> None:
        command = [PY, str(LOAD), "subscribe", "--port", str(port), "--path", path]
        command += ["--connections", str(n), "--marker", marker, "--sample", str(args.sample)]
        command += ["--concurrency", str(args.concurrency)]
        for h in headers:
            command += ["--header", h]
        self.proc = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self.opened = self._read()

    def _read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"subscriber process exited with {self.proc.wait()}")
        result: dict[str, Any] = json.loads(line)
        return result

    def ask(self, command: str) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return self._read()

    def drain(self, limit: float = 10.0) -> None:
        """Wait until nothing more arrives (a slow server still has queued frames)."""
        last, deadline = -1, time.time() + limit
        while time.time() < deadline:
            now = int(self.ask("count")["received"])
            if now == last:
                return
            last = now
            time.sleep(0.7)

    def close(self) -> None:
        assert self.proc.stdin is not None
        with suppress(BrokenPipeError):
            self.proc.stdin.write("quit\n")
            self.proc.stdin.flush()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            stop(self.proc)


def publish(port: int, kind: str, rate: float, seconds: float, extra: list[str]) -> dict[str, Any]:
    command = [PY, str(LOAD), "publish", "--port", str(port), "--kind", kind]
    command += ["--rate", str(rate), "--seconds", str(seconds), *extra]
    out = subprocess.run(command, capture_output=True, text=True, check=True, timeout=600)
    result: dict[str, Any] = json.loads(out.stdout)
    return result


# ------------------------------------------------------------------------------------------
# One measured load: N connections, events at a rate, what arrived and when


@dataclass
class Delivery:
    subscribers: int
    offered: float
    published: int
    statuses: dict[str, int]
    publish_rate: float
    deliveries_per_s: float
    expected_per_s: float
    received: int
    expected: int
    send_p50: float
    send_p99: float
    commit_p50: float = math.nan
    commit_p99: float = math.nan
    commit_max: float = math.nan
    sampled_missing: int = 0
    server_cpu: float = 0.0  # share of one core over the run
    server_us: float = 0.0  # server CPU per delivery
    loadgen_cpu: float = 0.0
    request_p99: float = 0.0
    samples: list[tuple[float, float, int]] = field(default_factory=list)

    def line(self, label: str) -> str:
        commit = (
            ""
            if math.isnan(self.commit_p99)
            else f" commit→receipt p50 {self.commit_p50 * 1e3:.1f} p99 {self.commit_p99 * 1e3:.1f}"
            f" max {self.commit_max * 1e3:.0f} ms;"
        )
        return (
            f"  {label}: {self.subscribers} subs, offered {self.offered:.0f} ev/s, published "
            f"{self.published} at {self.publish_rate:.1f} ev/s {self.statuses}; delivered "
            f"{self.deliveries_per_s:,.0f}/s of {self.expected_per_s:,.0f}/s expected "
            f"({self.received:,}/{self.expected:,} total, {self.sampled_missing} sampled frames "
            f"missing); send→receipt p50 {self.send_p50 * 1e3:.1f} p99 {self.send_p99 * 1e3:.1f} "
            f"ms;{commit} publish request p99 {self.request_p99 * 1e3:.1f} ms; server CPU "
            f"{self.server_cpu:.0%} of a core = {self.server_us:.2f} µs/delivery; load generator "
            f"CPU {self.loadgen_cpu:.0%}"
        )


Publisher = Callable[[float, float], dict[str, Any]]  # (events/s, seconds) -> what was sent


def measure(
    subs: Subscribers,
    server_pids: Callable[[], list[int]],
    send: Publisher,
    rate: float,
    seconds: float,
) -> Delivery:
    before = int(subs.ask("count")["received"])
    pids = server_pids()
    cpu0, gen0, t0 = cpu_seconds(pids), cpu_seconds([subs.proc.pid]), time.time()
    pub = send(rate, seconds)
    subs.drain()
    cpu1, gen1, t1 = cpu_seconds(pids), cpu_seconds([subs.proc.pid]), time.time()
    report = subs.ask("report")
    n = int(subs.opened["connected"])
    first, last = float(pub["first"]), float(pub["last"])
    # Steady state: from 1 s after the first send to the last send, on whole 100 ms buckets.
    lo = math.ceil((first + 1.0 if last - first > 2.0 else first) * 10)
    hi = max(math.floor(last * 10), lo + 1)
    buckets = {int(k): int(v) for k, v in report["buckets"].items()}
    window = sum(v for k, v in buckets.items() if lo <= k < hi)
    received = int(report["received"]) - before
    published = int(pub["sent"])
    samples = [
        (float(s), float(r), int(i))
        for s, r, i in report["samples"]
        if first - 0.001 <= s <= last + 0.001
    ]
    sends = [r - s for s, r, _ in samples]
    span = max(last - first, 1e-9)
    return Delivery(
        subscribers=n,
        offered=rate,
        published=published,
        statuses=pub["statuses"],
        publish_rate=(published - 1) / span if published > 1 else 0.0,
        deliveries_per_s=window / ((hi - lo) / 10),
        expected_per_s=(published - 1) / span * n if published > 1 else 0.0,
        received=received,
        expected=published * n,
        send_p50=pct(sends, 0.5),
        send_p99=pct(sends, 0.99),
        sampled_missing=published * int(subs.opened["sampled"]) - len(samples),
        server_cpu=(cpu1 - cpu0) / (t1 - t0),
        server_us=(cpu1 - cpu0) / max(received, 1) * 1e6,
        loadgen_cpu=(gen1 - gen0) / (t1 - t0),
        request_p99=float(pub["request_p99"]),
        samples=samples,
    )


def with_commits(d: Delivery, commits: dict[int, float]) -> Delivery:
    lat = [r - commits[i] for _, r, i in d.samples if i in commits]
    d.commit_p50, d.commit_p99 = pct(lat, 0.5), pct(lat, 0.99)
    d.commit_max = max(lat, default=math.nan)
    return d


# ------------------------------------------------------------------------------------------
# 1. The hub in-process: one encoding per audience vs one per connection


def sample_event(i: int) -> EventRead:
    at = datetime(2026, 12, 1, 15, tzinfo=UTC)
    card = JobCard(
        id=1, state="scheduled", technician_id=None, customer_id=1, service_type="chip_repair",
        site_address=f"@ts={time.time():.6f};seq={i};", lat=33.0, lon=-96.7,
        duration_minutes=30, scheduled_start=at, scheduled_end=at + timedelta(minutes=30),
        window_start=None, window_end=None, pinned=False, override_reason=None,
    )  # fmt: skip
    event = JobUpdated(job_id=1, customer_id=1, fields=["site"], job=card)
    return EventRead(id=i, event=event)


def deliver_per_connection(hub: Hub, events: list[EventRead]) -> None:
    """The baseline: Hub.deliver as first written, one serialisation per connection."""
    for item in events:
        for sub in list(hub.subscribers):
            if sub.matches(item.event) and event_visible(sub.actor, item.event):
                sub.offer(item.id, encode(sub.actor, item), item)
    hub.schedule_flush()


def bench_hub(args: argparse.Namespace) -> int:
    return asyncio.run(_bench_hub(args))


async def _bench_hub(args: argparse.Namespace) -> int:
    """Deliver, then flush: the bytes reach each stream's ASGI ``send`` (a no-op here)."""
    hub = Hub()
    now = datetime.now(UTC)
    written = 0

    async def send(message: Any) -> None:
        nonlocal written
        written += len(message.get("body", b""))

    subs = []
    for i in range(args.hub_subscribers):
        actor = Actor(i, f"dispatcher{i}", "dispatcher", None, None, "127.0.0.1", "bench", now)
        stream = hub.attach(actor, BoardFilter(day=date(2026, 12, 1)), send)
        stream.ready = True
        subs.append(stream)
    events = [sample_event(i + 1) for i in range(args.hub_events)]
    deliveries = len(events) * len(subs)

    def once(fn: Callable[[Hub, list[EventRead]], None]) -> tuple[float, int]:
        before = hub.encodings
        start = time.perf_counter()
        fn(hub, events)
        hub.flush()
        took = (time.perf_counter() - start) / deliveries
        for sub in subs:
            sub.covered = 0
            sub.recent = None  # the same ids are delivered again in the next round
        return took, hub.encodings - before

    once(Hub.deliver)  # warm-up
    shared_runs, each_runs, encodings = [], [], 0
    for _ in range(REPEATS):  # interleaved, so both see the same noise from the box
        took, encodings = once(Hub.deliver)
        shared_runs.append(took)
        each_runs.append(once(deliver_per_connection)[0])
    shared, each = statistics.median(shared_runs), statistics.median(each_runs)
    frame = len(encode(subs[0].actor, events[0]))
    say(
        f"Hub in-process: {len(subs)} subscribers of one audience, {len(events)} events "
        f"({frame} B frames), median of {REPEATS}"
    )
    say(
        f"  Hub.deliver + flush: {encodings} encodings for {deliveries:,} deliveries "
        f"({encodings / len(events):.2f} per event), {shared * 1e6:.2f} µs/delivery; "
        f"per-connection encoding: {len(subs)} per event, {each * 1e6:.2f} µs/delivery"
    )
    verdict(
        f"Hub: encodings per event ({len(subs):,} subs, one audience)",
        encodings == len(events),
        f"{encodings / len(events):.2f}/event",
        f"per connection {len(subs)}/event",
        encodings / deliveries,
    )
    verdict(
        "Hub.deliver + flush time per delivery",
        shared < each,
        f"{shared * 1e6:.2f} µs",
        f"per-connection {each * 1e6:.2f} µs",
        shared / each,
    )
    return max(0, frame - 55)  # Nchan adds ~25 B of id/data lines, the stamp is ~30 B


# ------------------------------------------------------------------------------------------
# 2. nginx + Nchan


NGINX_CONF = """\
load_module {module};
daemon off;
worker_processes {workers};
user {user};
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
worker_rlimit_nofile {fds};
events {{ worker_connections {conns}; }}
http {{
  access_log off;
  client_body_temp_path {tmp}/body;
  proxy_temp_path {tmp}/proxy;
  fastcgi_temp_path {tmp}/fastcgi;
  uwsgi_temp_path {tmp}/uwsgi;
  scgi_temp_path {tmp}/scgi;
  server {{
    listen 127.0.0.1:{port} backlog=4096;
    location = /pub {{
      nchan_publisher;
      nchan_channel_id board;
      nchan_message_buffer_length 100;
      nchan_message_timeout 60s;
    }}
    location = /sub {{
      nchan_subscriber eventsource;
      nchan_subscriber_first_message newest;
      nchan_channel_id board;
    }}
  }}
}}
"""


def nchan_available() -> str | None:
    if shutil.which("nginx") is None or not NCHAN_MODULE.exists():
        return None
    out = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Version}", "libnginx-mod-nchan"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    return out.stdout.strip() or "unknown version"


@contextmanager
def nchan_server(tmp: Path, args: argparse.Namespace) -> Iterator[tuple[int, list[int]]]:
    port = free_port()
    fds = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    conf = tmp / "nginx.conf"
    conf.write_text(
        NGINX_CONF.format(
            module=NCHAN_MODULE,
            workers=args.nchan_workers,
            tmp=tmp,
            fds=fds,
            conns=fds - 100,
            port=port,
            user="root" if os.geteuid() == 0 else "",
        ).replace("user ;\n", "")
    )
    log = (tmp / "nginx.out").open("wb")
    proc = subprocess.Popen(
        ["nginx", "-p", str(tmp), "-c", str(conf), "-e", str(tmp / "error.log")],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        wait_for_port(port, proc, tmp / "error.log")
        workers: list[int] = []
        deadline = time.time() + 5
        while len(workers) < args.nchan_workers and time.time() < deadline:
            workers = children(proc.pid)
            time.sleep(0.05)
        yield port, workers
    finally:
        stop(proc)
        log.close()


def wait_for_port(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.time() + 30
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {log.read_text()[-2000:]}")
        with suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.1)
    raise RuntimeError(f"server did not listen on {port}: {log.read_text()[-2000:]}")


@dataclass
class Idle:
    """Idle connections and what they cost the server's memory."""

    count: int
    failed: int
    failures: dict[str, int]
    seconds: float
    per_kib: float  # (RSS with all open - RSS before) / count
    marginal_kib: float  # (RSS with all open - RSS with the first half open) / second half
    open_cpu_ms: float  # server CPU per connection opened

    def why(self) -> str:
        return "".join(f"; {n}x {text}" for text, n in self.failures.items())

    def line(self, rss: tuple[int, int, int]) -> str:
        return (
            f"  idle: {self.count:,} connections ({self.failed} failed{self.why()}) "
            f"opened in {self.seconds:.1f} s at {self.open_cpu_ms:.2f} ms server CPU each; RSS "
            f"{rss[0]:,} → {rss[1]:,} (half) → {rss[2]:,} KiB = {self.per_kib:.2f} KiB/connection "
            f"({self.marginal_kib:.2f} KiB for the second half)"
        )


def idle(
    port: int, path: str, headers: list[str], pids: list[int], args: argparse.Namespace
) -> Idle:
    """Open ``args.idle`` connections in two halves, reading the server's VmRSS around each."""
    time.sleep(0.5)
    rss0, cpu0 = sum(rss_kib(p) for p in pids), cpu_seconds(pids)
    half = args.idle // 2
    first = Subscribers(port, path, half, "@ts=", headers, args)
    time.sleep(1.0)
    rss1 = sum(rss_kib(p) for p in pids)
    second = Subscribers(port, path, args.idle - half, "@ts=", headers, args)
    cpu1 = cpu_seconds(pids)
    time.sleep(2.0)
    rss2 = sum(rss_kib(p) for p in pids)
    n1, n2 = int(first.opened["connected"]), int(second.opened["connected"])
    failures = {**first.opened["failures"], **second.opened["failures"]}
    result = Idle(
        count=n1 + n2,
        failed=int(first.opened["failed"]) + int(second.opened["failed"]),
        failures=failures,
        seconds=float(first.opened["connect_seconds"]) + float(second.opened["connect_seconds"]),
        per_kib=(rss2 - rss0) / max(n1 + n2, 1),
        marginal_kib=(rss2 - rss1) / max(n2, 1),
        open_cpu_ms=(cpu1 - cpu0) / max(n1 + n2, 1) * 1e3,
    )
    say(result.line((rss0, rss1, rss2)))
    second.close()
    first.close()
    return result


@dataclass
class Baseline:
    deliveries_per_s: float = ISSUE_NCHAN_DELIVERIES
    measured: bool = False
    big: Delivery | None = None
    small: Delivery | None = None
    idle: Idle | None = None


def bench_nchan(args: argparse.Namespace, pad: int) -> Baseline:
    base = Baseline()
    version = nchan_available()
    if args.skip_nchan or version is None:
        why = (
            "--skip-nchan"
            if args.skip_nchan
            else "apt-get install -y nginx-light libnginx-mod-nchan"
        )
        say(
            f"\nnginx + Nchan: not run ({why}); baseline is the issue's figure of "
            f"{ISSUE_NCHAN_DELIVERIES:,.0f} deliveries/s"
        )
        return base
    say(
        f"\nnginx + Nchan {version}: {args.nchan_workers} worker process(es), EventSource "
        f"subscribers, messages padded to Routeboard's frame size ({pad} B of payload)"
    )
    with (
        tempfile.TemporaryDirectory(prefix="nchan-") as raw,
        nchan_server(Path(raw), args) as (
            port,
            workers,
        ),
    ):
        extra = ["--path", "/pub", "--pad", str(pad), "--workers", str(args.publish_workers)]

        def pids() -> list[int]:
            return workers

        def send(rate: float, seconds: float) -> dict[str, Any]:
            return publish(port, "nchan", rate, seconds, extra)

        if args.idle:
            base.idle = idle(port, "/sub", [], workers, args)
        subs = Subscribers(port, "/sub", args.boards, "@ts=", [], args)
        base.big = measure(subs, pids, send, args.rate, args.seconds)
        subs.close()
        say(base.big.line("fan-out"))
        base.deliveries_per_s = base.big.deliveries_per_s
        base.measured = True
        subs = Subscribers(port, "/sub", args.small_boards, "@ts=", [], args)
        base.small = measure(subs, pids, send, args.small_rate, args.seconds)
        subs.close()
        say(base.small.line("small"))
    return base


# ------------------------------------------------------------------------------------------
# 3. Routeboard


async def seed(url: str) -> tuple[int, int, str]:
    """A migrated database with a dispatcher, an API session and a customer; its bearer token."""
    engine = make_engine(url)
    await upgrade(engine)
    async with make_sessionmaker(engine)() as session:
        tech = Technician(
            name="Bench Tech", phone="+1 214 555 0100", email="b@example.com", skills=[],
            home_address="Plano", home_lat=33.0, home_lon=-96.7, working_hours={},
            created_at=datetime.now(UTC),
        )  # fmt: skip
        now = datetime.now(UTC)
        customer = Customer(name="Bench Customer", phone="+1 214 555 0101", created_at=now)
        session.add_all([tech, customer])
        await session.flush()
        user = User(
            username="bench", password_hash=hash_password("benchmark"), role="dispatcher",
            created_at=now,
        )  # fmt: skip
        session.add(user)
        await session.flush()
        session.add(
            AuthSession(
                id="bench", user_id=user.id, kind="api", secret_hash="-",
                created_at=now, expires_at=now + timedelta(hours=2),
            )
        )  # fmt: skip
        await session.commit()
        customer_id, user_id = customer.id, user.id
    await engine.dispose()
    token = issue_token(
        JWT, user_id=user_id, role="dispatcher", token_version=0, session_id="bench",
        minutes=120, now=datetime.now(UTC),
    )  # fmt: skip
    return customer_id, user_id, token


@contextmanager
def database(args: argparse.Namespace, tmp: Path) -> Iterator[str]:
    if args.db == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp / 'routeboard.sqlite3'}"
        return
    name = f"routeboard_bench_{os.getpid()}"

    async def admin(statement: str) -> None:
        engine = make_engine(f"{args.pg_url}/postgres", isolation_level="AUTOCOMMIT")
        async with engine.connect() as conn:
            await conn.execute(text(statement))
        await engine.dispose()

    asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}"'))
    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{args.pg_url}/{name}"
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def log_summary(path: Path) -> str:
    """The server's errors, counted by their final line (uvicorn logs at warning)."""
    errors: Counter[str] = Counter()
    for line in path.read_text(errors="replace").splitlines():
        head = line.split(":", 1)[0]
        if head.endswith(("Error", "Exception")) and " " not in head and ":" in line:
            errors[line[:110]] += 1
    if not errors:
        return "no errors"
    return "; ".join(f"{n}x {text}" for text, n in errors.most_common(2))


@contextmanager
def routeboard_server(tmp: Path, url: str) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    port = free_port()
    env = {
        **os.environ,
        "ROUTEBOARD_DATA_DIR": str(tmp),
        "ROUTEBOARD_DATABASE_URL": url,
        "ROUTEBOARD_JWT_SECRET": JWT,
    }
    log_path = tmp / "uvicorn.out"
    log = log_path.open("wb")
    command = [PY, "-m", "uvicorn", "--factory", "stream_server:app", "--app-dir", str(BENCH)]
    command += ["--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    command += ["--loop", "uvloop", "--http", "httptools", "--backlog", "4096"]
    command += ["--log-level", "warning", "--no-access-log"]
    proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, proc, log_path)
        yield port, proc
    finally:
        stop(proc)
        log.close()
        say(f"  server log: {log_summary(log_path)}")


JOB = {
    "service_type": "chip_repair", "duration_minutes": 30,
    "site": {"address": "Plano", "lat": 33.0, "lon": -96.7},
    "vehicle": {"year": 2020, "make": "Ford", "model": "F-150", "vin": "1HGCM82633A004352"},
}  # fmt: skip
EVENT = "event: job.updated"  # counted frames: snapshots carry old @ts= addresses too


def kept_up(d: Delivery) -> bool:
    """Every offered event committed on time and reached every connection."""
    return d.publish_rate >= 0.95 * d.offered and d.received >= d.expected


def bench_routeboard(args: argparse.Namespace, base: Baseline) -> None:
    with tempfile.TemporaryDirectory(prefix="routeboard-") as raw, database(args, Path(raw)) as url:
        tmp = Path(raw)
        customer_id, user_id, token = asyncio.run(seed(url))
        auth = f"Authorization: Bearer {token}"
        with routeboard_server(tmp, url) as (port, proc):
            api = httpx.Client(
                base_url=f"http://127.0.0.1:{port}",
                headers={"Authorization": f"Bearer {token}"},
                timeout=60,
            )
            jobs = []
            for _ in range(args.publish_workers):
                r = api.post("/api/v1/jobs", json={**JOB, "customer_id": customer_id})
                r.raise_for_status()
                jobs.append(str(r.json()["id"]))
            extra = ["--jobs", ",".join(jobs), "--header", auth]
            path = f"/api/v1/stream?date={date.today().isoformat()}"

            def pids() -> list[int]:
                return [proc.pid]

            def send(rate: float, seconds: float) -> dict[str, Any]:
                if args.source == "http":
                    return publish(port, "routeboard", rate, seconds, extra)
                plan = {"user_id": user_id, "jobs": [int(j) for j in jobs]}
                r = api.post("/_bench/burst", json={**plan, "rate": rate, "seconds": seconds})
                r.raise_for_status()
                result: dict[str, Any] = r.json()
                return result

            def settle(limit: float = 30.0) -> dict[str, Any]:
                deadline = time.time() + limit
                while True:
                    stats: dict[str, Any] = api.get("/_bench/stats").json()
                    if stats["subscribers"] == 0 or time.time() > deadline:
                        return stats
                    time.sleep(0.2)

            db = "SQLite (temp file, WAL)" if args.db == "sqlite" else "PostgreSQL 127.0.0.1:5432"
            source = (
                "PATCH /api/v1/jobs/{id} requests (the site address carries the stamp)"
                if args.source == "http"
                else "jobs.service.update_job + deps.get_session's commit, inside the server"
            )
            say(
                f"\nRouteboard: uvicorn, 1 worker (uvloop, httptools), {db}; boards are "
                f"dispatcher SSE streams of {path} (every event to every board); events are "
                f"{source}, over {len(jobs)} jobs"
            )
            # Warm up: grow the connection pool, then time ingestion alone (no stream open).
            warm = Subscribers(port, path, 200, EVENT, [auth], args)
            warm.close()
            settle()
            cpu0 = cpu_seconds([proc.pid])
            alone = send(50, 2.0)
            per_event = (cpu_seconds([proc.pid]) - cpu0) / max(int(alone["sent"]), 1)
            say(
                f"  ingestion alone (no stream open): {alone['sent']} events at 50/s, "
                f"{per_event * 1e3:.2f} ms server CPU each (≤ {1 / per_event:.0f}/s on one core), "
                f"p50 {alone['request_p50'] * 1e3:.1f} ms to commit"
            )
            if args.idle:
                quiet = idle(port, path, [auth], [proc.pid], args)
                settle()
                verdict(
                    f"{args.idle:,} idle SSE connections ≤ {args.idle_kib:g} KiB each",
                    quiet.count >= args.idle and quiet.per_kib <= args.idle_kib,
                    f"{quiet.per_kib:.1f} KiB ({quiet.count:,} open)",
                    "n/a"
                    if base.idle is None
                    else f"Nchan {base.idle.per_kib:.2f} KiB ({base.idle.count:,})",
                    None if base.idle is None else quiet.per_kib / base.idle.per_kib,
                )

            # 1,000 boards at the target: 0.6x Nchan's deliveries, plus 5% so keeping up passes.
            target_rate = 1.05 * args.target_ratio * base.deliveries_per_s / args.boards
            subs = Subscribers(port, path, args.boards, EVENT, [auth], args)
            say(
                f"  {subs.opened['connected']:,} boards open in "
                f"{subs.opened['connect_seconds']:.1f} s ({subs.opened['failed']} failed)"
            )
            at_target = measure(subs, pids, send, target_rate, args.seconds)
            # At Nchan's own offered load too, unless the target already saturated the server.
            at_full = None
            if kept_up(at_target) and args.rate > target_rate:
                at_full = measure(subs, pids, send, args.rate, args.seconds)
            still = subs.ask("count")
            subs.close()
            settle()
            small_subs = Subscribers(port, path, args.small_boards, EVENT, [auth], args)
            small = measure(small_subs, pids, send, args.small_rate, args.seconds)
            small_subs.close()
            stats = settle()
            commits = {int(k): float(v) for k, v in stats["commits"].items()}
            for d in (at_target, at_full, small):
                if d is not None:
                    with_commits(d, commits)
            say(at_target.line(f"fan-out at 1.05 x {args.target_ratio:g} x Nchan"))
            if at_full is not None:
                say(at_full.line("fan-out at Nchan's offered load"))
            else:
                say("  fan-out at Nchan's offered load: not run, the target rate saturated it")
            say(f"    boards still connected afterwards: {still['open']} of {args.boards}")
            say(small.line("small"))
            say(
                f"  server Hub.encodings {stats['encodings']:,} for {len(commits):,} committed "
                f"events (all boards are one audience: staff)"
            )
            top, late_ids = 0, []
            for i in stats["handed"]:
                if i < top:
                    late_ids.append(i)
                top = max(top, i)
            lost = sum(
                (d.expected - d.received) // max(d.subscribers, 1)
                for d in (at_target, at_full, small)
                if d is not None
            )
            say(
                f"  events handed to the hub after a higher id: {len(late_ids)} (a live stream "
                f"skips ids ≤ the last it sent); whole events missing at every board: {lost}"
            )

    ref = base.deliveries_per_s
    source = "" if base.measured else " (issue figure)"
    verdict(
        f"{args.boards:,} boards: ≥ {args.target_ratio:g}x Nchan deliveries/s, p99 ≤ "
        f"{args.p99_ms:g} ms",
        at_target.deliveries_per_s >= args.target_ratio * ref
        and at_target.commit_p99 <= args.p99_ms / 1e3,
        f"{at_target.deliveries_per_s:,.0f}/s p99 {at_target.commit_p99 * 1e3:.0f} ms",
        f"Nchan {ref:,.0f}/s{source}",
        at_target.deliveries_per_s / ref,
    )
    if at_full is not None and base.big is not None:
        verdict(
            f"{args.boards:,} boards at Nchan's load ({args.rate:g} ev/s)",
            None,
            f"{at_full.deliveries_per_s:,.0f}/s p99 {at_full.commit_p99 * 1e3:.0f} ms",
            f"Nchan {base.big.deliveries_per_s:,.0f}/s p99 {base.big.send_p99 * 1e3:.0f} ms",
            at_full.deliveries_per_s / base.big.deliveries_per_s,
        )
    nchan_small = base.small
    verdict(
        f"{args.small_boards} boards at {args.small_rate:g} ev/s: p99 ≤ {args.small_p99_ms:g} ms",
        kept_up(small) and small.commit_p99 <= args.small_p99_ms / 1e3,
        f"{small.publish_rate:.0f} ev/s p99 {small.commit_p99 * 1e3:.1f} ms",
        "n/a"
        if nchan_small is None
        else f"Nchan {nchan_small.publish_rate:.0f} ev/s p99 {nchan_small.send_p99 * 1e3:.1f} ms",
        None if nchan_small is None else small.commit_p99 / nchan_small.send_p99,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--boards", type=int, default=1000, help="connected boards (fan-out)")
    parser.add_argument("--rate", type=float, default=100, help="events/s offered to Nchan")
    parser.add_argument("--target-ratio", type=float, default=0.6)
    parser.add_argument("--p99-ms", type=float, default=150)
    parser.add_argument("--small-boards", type=int, default=100)
    parser.add_argument("--small-rate", type=float, default=200)
    parser.add_argument("--small-p99-ms", type=float, default=100)
    parser.add_argument("--idle", type=int, default=10_000, help="idle connections (0: skip)")
    parser.add_argument("--idle-kib", type=float, default=20)
    parser.add_argument("--seconds", type=float, default=6, help="publishing time per load")
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument(
        "--source",
        choices=["http", "service"],
        default="http",
        help="Routeboard events: PATCH requests, or jobs.service.update_job inside the server "
        "committed and published by deps.get_session (no HTTP, no auth)",
    )
    parser.add_argument("--pg-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432")
    parser.add_argument("--nchan-workers", type=int, default=1)
    parser.add_argument("--skip-nchan", action="store_true")
    parser.add_argument("--publish-workers", type=int, default=8, help="publisher connections")
    parser.add_argument("--sample", type=int, default=50, help="connections timing every frame")
    parser.add_argument("--concurrency", type=int, default=50, help="connections opening at once")
    parser.add_argument("--hub-subscribers", type=int, default=1000)
    parser.add_argument("--hub-events", type=int, default=50)
    args = parser.parse_args()
    # A SIGTERM (a timeout, Ctrl-C in make) still runs the cleanups that stop the servers.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    fds = raise_fd_limit()
    started = time.time()
    say(
        f"Routeboard live-stream benchmarks — {os.cpu_count()} CPUs, open-file limit {fds}, "
        f"load generator: separate processes (uvloop, raw sockets), {args.seconds:g} s per load, "
        f"load average {os.getloadavg()[0]:.2f}\n"
    )
    if args.idle and fds < args.idle + 200:
        say(f"  note: open-file limit {fds} is below {args.idle} connections plus slack")
    pad = bench_hub(args)
    base = bench_nchan(args, pad)
    bench_routeboard(args, base)
    summary()
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    say(f"\n(total {time.time() - started:.0f} s; load average now {load}: other work on the box)")


if __name__ == "__main__":
    main()

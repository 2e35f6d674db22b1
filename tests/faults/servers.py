"""Real servers of the fault drills' own, on their own ports, that a test stops and starts.

The shared services of the machine are never touched: each drill gets a Mosquitto, a Redis or a
PostgreSQL of its own in a temporary folder. Missing binaries skip the drill with a reason, or
fail it under ROUTEBOARD_REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import pytest

from tests.conftest import REQUIRE_SERVICES
from tests.events.live import free_port

PG_BIN = next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)), None)


def need(binary: str | Path | None, what: str) -> Path:
    found = shutil.which(str(binary)) if binary else None
    if found is None:
        reason = f"{what} is not installed"
        if REQUIRE_SERVICES:
            pytest.fail(f"{reason} and ROUTEBOARD_REQUIRE_SERVICES=1")
        pytest.skip(reason)
    return Path(found)


def real_clock_env() -> dict[str, str]:
    """This environment without libfaketime: the drills' servers keep the real clock."""
    return {k: v for k, v in os.environ.items() if k != "LD_PRELOAD" and "FAKETIME" not in k}


def _wait_port(port: int, up: bool, seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                if up:
                    return
        except OSError:
            if not up:
                return
        time.sleep(0.05)
    raise AssertionError(f"port {port} did not go {'up' if up else 'down'}")


class Server(ABC):
    """One process on one port: ``start`` and ``stop`` as often as the drill likes."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        folder.mkdir(parents=True, exist_ok=True)

    @abstractmethod
    def command(self) -> list[str]:
        """How to start this server in the foreground."""

    def start(self) -> None:
        # The servers are other people's programs on the real clock: a suite run under faketime
        # (the any-date check) fakes our code's time, not theirs (Redis will not start under it).
        env = real_clock_env()
        # The child keeps its own copy of the file descriptor.
        with (self.folder / "server.log").open("ab") as log:
            self.proc = subprocess.Popen(self.command(), stdout=log, stderr=log, env=env)
        try:
            _wait_port(self.port, up=True)
        except AssertionError:
            self.close()
            raise

    def stop(self) -> None:
        """A clean stop (SIGTERM): what a restart by an operator or an orchestrator does."""
        if self.proc is not None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=30)
            self.proc = None
        _wait_port(self.port, up=False)

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


S = TypeVar("S", bound=Server)


@contextmanager
def running(server: S) -> Iterator[S]:
    """``server`` started, and killed at the end whatever state the drill left it in."""
    server.start()
    try:
        yield server
    finally:
        server.close()


class Mosquitto(Server):
    """A broker that keeps its sessions and queued messages across restarts (persistence)."""

    def __init__(self, folder: Path) -> None:
        super().__init__(folder)
        self.binary = need("mosquitto", "mosquitto")
        (folder / "mosquitto.conf").write_text(
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            "persistence true\n"
            f"persistence_location {folder}/\n"
            # Queue for an absent subscriber however long the outage (the default is 1000).
            "max_queued_messages 0\n"
            # Run as root (the CI), it would switch to the mosquitto user, who cannot write
            # the persistence file under the test's folder: keep the user it was started as.
            + (f"user {pwd.getpwuid(os.geteuid()).pw_name}\n" if os.geteuid() == 0 else "")
        )

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        return [str(self.binary), "-c", str(self.folder / "mosquitto.conf")]


class Redis(Server):
    def __init__(self, folder: Path) -> None:
        super().__init__(folder)
        self.binary = need("redis-server", "redis-server")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def command(self) -> list[str]:
        return [
            str(self.binary), "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
            "--appendonly", "no", "--dir", str(self.folder),
        ]  # fmt: skip


class Postgres(Server):
    """A PostgreSQL cluster of its own (initdb), run as the postgres user when we are root."""

    def __init__(self, folder: Path) -> None:
        super().__init__(folder)
        self.bin = need(PG_BIN / "initdb" if PG_BIN else None, "PostgreSQL's initdb").parent
        self.data = folder / "data"
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            shutil.chown(folder, "postgres", "postgres")
        self._run([str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres"])

    def _wrap(self, command: list[str]) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *command] if self._as_postgres else command

    def _run(self, command: list[str]) -> None:
        subprocess.run(
            self._wrap(command), check=True, capture_output=True, timeout=120, env=real_clock_env()
        )

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def command(self) -> list[str]:
        return self._wrap(
            [
                str(self.bin / "postgres"), "-D", str(self.data), "-p", str(self.port),
                "-k", str(self.folder), "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
            ]
        )  # fmt: skip

    def stop(self) -> None:
        # Fast shutdown: open connections are cut, as a crash or a failover would cut them.
        self._run([str(self.bin / "pg_ctl"), "-D", str(self.data), "stop", "-m", "fast"])
        if self.proc is not None:
            self.proc.wait(timeout=30)
            self.proc = None
        _wait_port(self.port, up=False)

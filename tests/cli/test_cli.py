"""The `routeboard` command as an operator runs it: a real process, a real SQLite file."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx
from alembic.script import ScriptDirectory

from routeboard.migrate import alembic_config
from tests.events.live import wait_ready

EXE = [sys.executable, "-m", "routeboard.cli"]


def _env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROUTEBOARD_")}
    env["ROUTEBOARD_DATA_DIR"] = str(data_dir)
    return env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_users_create_then_serve_on_embedded_sqlite(tmp_path: Path) -> None:
    env = _env(tmp_path)
    create = [*EXE, "users", "create", "--username", "owner", "--password", "first-admin-pw"]
    made = subprocess.run(
        [*create, "--role", "admin"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    assert "created user owner" in made.stdout
    again = subprocess.run(
        [*EXE, "users", "create", "--username", "owner", "--password", "first-admin-pw"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert again.returncode == 1
    assert "taken" in again.stderr

    port = _free_port()
    server = subprocess.Popen(
        [*EXE, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        wait_ready(base, server)
        token = httpx.post(
            f"{base}/api/v1/auth/token", data={"username": "owner", "password": "first-admin-pw"}
        )
        assert token.status_code == 200
        me = httpx.get(
            f"{base}/api/v1/me",
            headers={"Authorization": f"Bearer {token.json()['access_token']}"},
        )
        assert me.json()["role"] == "admin"
    finally:
        server.terminate()
        server.wait(timeout=10)
        if server.stdout:
            server.stdout.close()

    db = tmp_path / "routeboard.sqlite3"
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        head = ScriptDirectory.from_config(alembic_config()).get_current_head()
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone()[0] == head
    assert (tmp_path / "jwt.key").stat().st_mode & 0o777 == 0o600


def test_migrate_reports_the_database(tmp_path: Path) -> None:
    done = subprocess.run(
        [*EXE, "migrate"],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "up to date" in done.stdout


def test_users_unlock_lifts_a_sign_in_lockout(tmp_path: Path) -> None:
    env = _env(tmp_path)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*EXE, *args], env=env, capture_output=True, text=True, timeout=60, check=False
        )

    assert (
        run("users", "create", "--username", "owner", "--password", "first-admin-pw").returncode
        == 0
    )
    database = tmp_path / "routeboard.sqlite3"
    with sqlite3.connect(database) as db:
        # As five wrong passwords from one address leave it.
        db.execute(
            "INSERT INTO login_throttle (username, failures, locked_until) "
            "VALUES ('owner', 99, '2999-01-01 00:00:00')"
        )
    unlocked = run("users", "unlock", "--username", "owner")
    assert unlocked.returncode == 0, unlocked.stderr
    with sqlite3.connect(database) as db:
        left = db.execute("SELECT count(*) FROM login_throttle WHERE username = 'owner'")
        assert left.fetchone() == (0,)

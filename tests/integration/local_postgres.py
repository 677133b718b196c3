"""A real PostgreSQL server for tests: the binaries of the pgserver wheel (initdb, pg_ctl,
postgres, psql) run directly, listening on 127.0.0.1 only and asking for a password there, with a
scratch data folder that stopping removes. PostgreSQL refuses to run as root, so under root it
runs as `nobody`."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
from pathlib import Path

# Only the wheel's binaries are used: importing the package would set up its own server manager.
BIN = Path(importlib.util.find_spec("pgserver").origin).resolve().parent / "pginstall" / "bin"
USER = "clicklake"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LocalPostgres:
    def __init__(self, folder: Path, port: int):
        self.folder, self.port = folder, port
        self.data = folder / "data"
        self.password = secrets.token_urlsafe(16)
        self.as_owner = ["runuser", "-u", "nobody", "--"] if os.geteuid() == 0 else []

    def _run(self, *command: str) -> str:
        done = subprocess.run([*self.as_owner, *command], capture_output=True, text=True,
                              env={**os.environ, "PGPASSWORD": self.password})
        if done.returncode != 0:
            log = self.folder / "server.log"
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(f"{' '.join(command)} failed: {done.stdout[-2000:]}{done.stderr[-2000:]}{tail}")
        return done.stdout

    def start(self) -> None:
        password_file = self.folder / "password"
        password_file.write_text(self.password)
        if self.as_owner:
            shutil.chown(password_file, "nobody")
        self._run(str(BIN / "initdb"), "-D", str(self.data), "-U", USER, "-E", "UTF8", "--auth-local=trust",
                  "--auth-host=scram-sha-256", f"--pwfile={password_file}")
        password_file.unlink()
        self._run(str(BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.folder / "server.log"), "-w", "start",
                  "-o", f"-h 127.0.0.1 -p {self.port} -k {self.data}")

    def stop(self) -> None:
        pid_file = self.data / "postmaster.pid"
        if not pid_file.exists():
            return
        try:
            self._run(str(BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")
        except RuntimeError:
            with contextlib.suppress(OSError, ValueError):
                os.kill(int(pid_file.read_text().split()[0]), signal.SIGKILL)
            raise

    def create_database(self, name: str) -> str:
        """Creates the database; returns its JDBC URL."""
        self._run(str(BIN / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", USER, name)
        return f"jdbc:postgresql://127.0.0.1:{self.port}/{name}"

    def query(self, database: str, sql: str) -> list[str]:
        """One statement through psql over TCP; its rows, one line each (fields joined by '|')."""
        out = self._run(str(BIN / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", USER, "-d", database,
                        "-At", "-v", "ON_ERROR_STOP=1", "-c", sql)
        return out.splitlines()


@contextlib.contextmanager
def running():
    """A started server; stopped, and its folder removed, on leaving."""
    # Not under pytest's tmp_path: its folders are private to root, and the server may be `nobody`.
    folder = Path(tempfile.mkdtemp(prefix="clicklake-postgres-"))
    try:
        if os.geteuid() == 0:
            shutil.chown(folder, "nobody")
        server = LocalPostgres(folder, free_port())
        try:
            server.start()
            yield server
        finally:
            server.stop()
    finally:
        shutil.rmtree(folder, ignore_errors=True)

"""Real PostgreSQL for Vigie tests: a throw-away cluster on 127.0.0.1, or the one CI started.

Plain module (no pytest import), like kafka_broker.py. The root conftest's `postgres` fixture:

    server = PostgresServer.start()      # reuses $VIGIE_TEST_POSTGRES_URL if set
    url = server.new_database()          # a fresh, empty database for one test
    server.stop()

A throw-away cluster is Debian's PostgreSQL (initdb/pg_ctl from /usr/lib/postgresql/<v>/bin, or
on PATH) in a temporary directory, listening on 127.0.0.1 on a free port (and on a socket in
that directory), trust authentication for its own user, fsync off: test data only. PostgreSQL
refuses to run as root, so as root the cluster runs as the `postgres` system user.

Command line, for .ci/run:
    python tests/postgres_server.py start --dir DIR   # prints VIGIE_TEST_POSTGRES_URL=...
    python tests/postgres_server.py stop --dir DIR
"""

from __future__ import annotations

import argparse
import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ENV = "VIGIE_TEST_POSTGRES_URL"
USER = "vigie"
SYSTEM_USER = "postgres"


class PostgresError(RuntimeError):
    pass


def bin_dir() -> Path:
    found = shutil.which("pg_ctl")
    if found:
        real = Path(os.path.realpath(found)).parent
        if (real / "initdb").exists():
            return real
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), reverse=True)
    if not candidates:
        raise PostgresError("PostgreSQL binaries not found: apt-get install postgresql "
                            "(scripts/system-deps.sh), or set " + ENV)
    return Path(candidates[0]).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_cluster_user(cmd: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return cmd
    try:
        pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        raise PostgresError(f"running as root and no {SYSTEM_USER!r} user to run "
                            "PostgreSQL as (it refuses root)") from None
    runuser = shutil.which("runuser")
    if runuser:
        return [runuser, "-u", SYSTEM_USER, "--", *cmd]
    return ["setpriv", f"--reuid={SYSTEM_USER}", f"--regid={SYSTEM_USER}", "--init-groups",
            *cmd]


def _run(cmd: list[str], timeout: float = 120) -> str:
    result = subprocess.run(_as_cluster_user(cmd), capture_output=True, text=True,
                            timeout=timeout, cwd="/")
    if result.returncode != 0:
        raise PostgresError(f"{Path(cmd[0]).name} failed ({result.returncode}):\n"
                            f"{result.stdout[-2000:]}{result.stderr[-2000:]}")
    return result.stdout


class PostgresServer:
    def __init__(self, url: str, directory: Path | None) -> None:
        self.url = url  # SQLAlchemy URL of the maintenance database
        self.directory = directory  # None: not ours (CI's server)

    @classmethod
    def start(cls, directory: Path | None = None, attempts: int = 3) -> PostgresServer:
        if os.environ.get(ENV):
            server = cls(os.environ[ENV], None)
            server.wait_ready()
            return server
        own = directory is None
        directory = directory or Path(tempfile.mkdtemp(prefix="vigie-pg-"))
        directory.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            entry = pwd.getpwnam(SYSTEM_USER)
            os.chown(directory, entry.pw_uid, entry.pw_gid)
        os.chmod(directory, 0o700)
        binaries = bin_dir()
        data = directory / "data"
        try:
            _run([str(binaries / "initdb"), "-D", str(data), "-U", USER, "--auth=trust",
                  "-E", "UTF8", "--no-locale", "--no-sync"])
            last: Exception | None = None
            for _ in range(attempts):  # a port taken between probe and bind: try another
                port = free_port()
                options = (f"-c listen_addresses=127.0.0.1 -p {port} -k {directory} "
                           "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                           "-c max_connections=100 -c shared_buffers=32MB")
                try:
                    _run([str(binaries / "pg_ctl"), "-D", str(data), "-o", options, "-w",
                          "-t", "60", "-l", str(directory / "server.log"), "start"])
                except PostgresError as exc:
                    last = exc
                    continue
                server = cls(f"postgresql+psycopg://{USER}@127.0.0.1:{port}/postgres",
                             directory)
                (directory / "url").write_text(server.url)
                server.wait_ready()
                return server
            raise PostgresError(f"could not start PostgreSQL: {last}")
        except Exception:
            if own:
                shutil.rmtree(directory, ignore_errors=True)
            raise

    def _connect(self, database: str | None = None):  # type: ignore[no-untyped-def]
        import psycopg

        url = self.url.replace("postgresql+psycopg://", "postgresql://")
        if database:
            url = url.rsplit("/", 1)[0] + "/" + database
        return psycopg.connect(url, autocommit=True, connect_timeout=5)

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with self._connect() as connection:
                    connection.execute("SELECT 1")
                return
            except Exception as exc:
                if time.monotonic() > deadline:
                    raise PostgresError(f"PostgreSQL at {self.url} not ready: {exc}") from exc
                time.sleep(0.2)

    def new_database(self, prefix: str = "t") -> str:
        """A fresh empty database; its SQLAlchemy URL."""
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        with self._connect() as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url.rsplit("/", 1)[0] + "/" + name

    def stop(self) -> None:
        if self.directory is None:
            return
        data = self.directory / "data"
        if data.exists():
            try:
                _run([str(bin_dir() / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "-t", "30",
                      "stop"], timeout=60)
            except (PostgresError, subprocess.TimeoutExpired):
                pass
        shutil.rmtree(self.directory, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("action", choices=["start", "stop"])
    parser.add_argument("--dir", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.action == "start":
        os.environ.pop(ENV, None)
        server = PostgresServer.start(args.dir)
        print(f"{ENV}={server.url}")
    else:
        url_file = args.dir / "url"
        PostgresServer(url_file.read_text() if url_file.exists() else "", args.dir).stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

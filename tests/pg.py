"""A throwaway PostgreSQL cluster for tests: Debian's server binaries, a temp folder, a unix socket.

Usage (a module-scoped fixture, so each test file gets its own server)::

    from pg import PgCluster, pg_cluster  # noqa: F401 - the fixture
    def test_x(pg_cluster): dsn = pg_cluster.create_database("t1")

The cluster listens only on a unix socket inside its folder (no TCP port to
collide on). As root, initdb and the server run as the `postgres` user, as
PostgreSQL requires. Two roles: `postgres` (trust, for the tests' own setup)
and `slaprobe` with a password (SCRAM), so the agents' tests prove the password
can come from PGPASSWORD rather than probes.toml. Tests skip, loudly, only when
the server binaries are missing.
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

PASSWORD = "s3cret-for-tests"
_counter = itertools.count(1)


def server_bin() -> Path | None:
    """The newest /usr/lib/postgresql/N/bin holding initdb, or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    return Path(found[-1]).parent if found else None


class PgCluster:
    def __init__(self, bindir: Path):
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="slaprobe-pg-"))
        self.data = self.root / "data"
        self.socket_dir = self.root
        self.port = 5432 + next(_counter)  # only names the socket file
        self.as_root = os.geteuid() == 0
        if self.as_root:
            pw = pwd.getpwnam("postgres")
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
        os.chmod(self.root, 0o755)

    def _run(self, *cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        argv = [str(self.bindir / cmd[0]), *cmd[1:]]
        if self.as_root:
            argv = ["runuser", "-u", "postgres", "--", *argv]
        return subprocess.run(argv, capture_output=True, text=True, check=check, timeout=120,
                              cwd=self.root)

    def init(self) -> None:
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-E", "UTF8",
                  "--locale=C", "--auth-local=trust", "--auth-host=reject", "-N")
        (self.data / "pg_hba.conf").write_text(
            "local all postgres trust\nlocal all all scram-sha-256\n")
        with (self.data / "postgresql.conf").open("a") as f:
            f.write(f"listen_addresses = ''\nport = {self.port}\n"
                    f"unix_socket_directories = '{self.socket_dir}'\n"
                    "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
                    "max_connections = 50\nshared_buffers = 32MB\n")
        self.start()
        self.psql("postgres", f"CREATE ROLE slaprobe LOGIN PASSWORD '{PASSWORD}'")

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "server.log"), "-w",
                  "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop",
                  check=False)

    def psql(self, db: str, sql: str) -> str:
        out = subprocess.run(
            [str(self.bindir / "psql"), "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1",
             "-h", str(self.socket_dir), "-p", str(self.port), "-U", "postgres", "-d", db,
             "-c", sql], capture_output=True, text=True, timeout=60)
        if out.returncode:
            raise RuntimeError(out.stderr)
        return out.stdout

    def create_database(self, name: str | None = None) -> str:
        """A fresh database owned by `slaprobe`; returns a DSN with the password."""
        name = name or f"t{next(_counter)}"
        self.psql("postgres", f"CREATE DATABASE {name} OWNER slaprobe")
        return self.dsn(name)

    def dsn(self, db: str, *, password: bool = True, user: str = "slaprobe") -> str:
        pw = f" password={PASSWORD}" if password else ""
        return f"host={self.socket_dir} port={self.port} dbname={db} user={user}{pw}"

    def env(self, db: str) -> dict[str, str]:
        """PG* variables for `dsn = "postgresql://"` with no password in the file."""
        return {"PGHOST": str(self.socket_dir), "PGPORT": str(self.port), "PGDATABASE": db,
                "PGUSER": "slaprobe", "PGPASSWORD": PASSWORD}

    def remove(self) -> None:
        self.stop("immediate")
        with contextlib.suppress(OSError):
            shutil.rmtree(self.root)


@pytest.fixture(scope="module")
def pg_cluster():
    bindir = server_bin()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries missing (/usr/lib/postgresql/*/bin/initdb): "
                    "apt-get install postgresql, as .ci/run does; the [central] tests did NOT run")
    cluster = PgCluster(bindir)
    try:
        cluster.init()
    except subprocess.CalledProcessError as e:
        cluster.remove()
        raise RuntimeError(f"could not start PostgreSQL: {e.stderr or e.stdout}") from e
    yield cluster
    cluster.remove()

"""A real PostgreSQL server for the tests, started in a temporary directory on a free port.

PostgreSQL refuses to run as root, and CI runs as root: then the server runs as the
``postgres`` user (which Debian's package creates) through ``runuser``. pytest-postgresql
cannot switch users, hence this small fixture of our own on initdb and pg_ctl.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path


def _bindir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if found:
        return Path(found[-1]).parent
    pg_ctl = shutil.which("pg_ctl")
    if pg_ctl:
        return Path(pg_ctl).resolve().parent
    raise RuntimeError("PostgreSQL is not installed: run scripts/setup (Debian package postgresql)")


@dataclass
class PgServer:
    datadir: Path
    port: int
    bindir: Path
    as_user: list[str]

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        subprocess.run([*self.as_user, str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m", "immediate", "stop"],
                       capture_output=True, timeout=60)
        shutil.rmtree(self.datadir.parent, ignore_errors=True)


def start_postgres(port: int) -> PgServer:
    bindir = _bindir()
    base = Path(tempfile.mkdtemp(prefix="hall-pg-"))
    datadir = base / "data"
    as_user: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(base, "postgres", "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    subprocess.run([*as_user, str(bindir / "initdb"), "-D", str(datadir), "-U", "postgres", "--auth=trust",
                    "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync"], check=True, capture_output=True, timeout=120)
    opts = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=on -c max_connections=60"
    subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(datadir), "-o", opts, "-l", str(base / "log"),
                    "-w", "-t", "60", "start"], check=True, capture_output=True, timeout=90)
    return PgServer(datadir, port, bindir, as_user)

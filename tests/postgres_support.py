"""A real PostgreSQL for the ledger's tests: one throwaway cluster per session, one database per test.

PostgreSQL refuses to run as root, and sessions and CI run as root, so the cluster runs as
the `postgres` system user in a temporary directory, listening on a unix socket only.
Skips (with the reason) only where no PostgreSQL binaries exist at all.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

PORT = 55432
BIN_DIRS = [Path("/usr/local/bin"), *sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)]


def _binary(name: str) -> str | None:
    for directory in BIN_DIRS:
        if (directory / name).exists():
            return str(directory / name)
    return shutil.which(name)


def _as_postgres(*args: str) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else list(args)


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[str]:
    """The socket directory of a running cluster (user `test`, trust authentication)."""
    initdb, pg_ctl = _binary("initdb"), _binary("pg_ctl")
    if initdb is None or pg_ctl is None:
        pytest.skip("PostgreSQL is not installed (no initdb/pg_ctl); .ci/run installs it")
    directory = Path(tempfile.mkdtemp(prefix="iac-mcp-pg-"))
    if os.geteuid() == 0:
        shutil.chown(directory, "postgres")
    data = directory / "data"
    log = directory / "log"
    options = f"-p {PORT} -k {directory} -c listen_addresses='' -c fsync=off -c max_connections=200"
    for command in (
        [initdb, "-D", str(data), "-A", "trust", "-U", "test"],
        [pg_ctl, "-D", str(data), "-l", str(log), "-o", options, "-w", "start"],
    ):
        done = subprocess.run(_as_postgres(*command), check=False, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            server_log = log.read_text(errors="replace") if log.exists() else ""
            shutil.rmtree(directory, ignore_errors=True)
            pytest.fail(f"{Path(command[0]).name} failed ({done.returncode}):\n{done.stdout}{done.stderr}{server_log}")
    try:
        yield str(directory)
    finally:
        subprocess.run(
            _as_postgres(pg_ctl, "-D", str(data), "-m", "immediate", "stop"), check=False, capture_output=True, timeout=60
        )
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_cluster: str) -> str:
    """A fresh, empty database in the session's cluster, as an operator would write its URL."""
    name = "t" + uuid.uuid4().hex[:12]
    psql = _binary("psql") or "psql"
    subprocess.run(
        [psql, "-h", postgres_cluster, "-p", str(PORT), "-U", "test", "-d", "postgres", "-c", f"CREATE DATABASE {name}"],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return f"postgresql://test@/{name}?host={postgres_cluster}&port={PORT}"

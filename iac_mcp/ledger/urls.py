"""Where the ledger lives: the default SQLite file, and the URLs operators may give."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from iac_mcp.genesys.errors import ConfigurationError

DATABASE_URL_ENV = "IAC_MCP_DATABASE_URL"


class LedgerConfigError(ConfigurationError):
    """The ledger's URL cannot be used; the message never holds its password."""


def default_database_url(env: Mapping[str, str] = os.environ) -> str:
    """SQLite at `$XDG_STATE_HOME/iac-mcp/ledger.sqlite3`, else under `~/.local/state`."""
    state = env.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return f"sqlite+aiosqlite:///{Path(state) / 'iac-mcp' / 'ledger.sqlite3'}"


def normalize_database_url(url: str) -> URL:
    """The SQLAlchemy async URL for `sqlite:///…` or `postgresql://…` (asyncpg, aiosqlite).

    `?host=/socket/dir&port=N` is accepted for PostgreSQL over a unix socket.
    """
    try:
        parsed = make_url(url.strip())
    except ArgumentError:
        raise LedgerConfigError(
            f"{DATABASE_URL_ENV} is not a database URL: use sqlite:////absolute/path.sqlite3 or "
            "postgresql://user@host:port/database."
        ) from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if parsed.database in (None, "", ":memory:"):
            raise LedgerConfigError(f"{DATABASE_URL_ENV} must name a SQLite file: the ledger has to outlive the process.")
        return parsed.set(drivername="sqlite+aiosqlite")
    if backend in ("postgresql", "postgres"):
        query = dict(parsed.query)
        port = query.pop("port", None)
        parsed = parsed.set(drivername="postgresql+asyncpg", query=query)
        if isinstance(port, str) and port.isdigit():
            parsed = parsed.set(port=int(port))
        return parsed
    raise LedgerConfigError(f"{DATABASE_URL_ENV} must be a sqlite:// or postgresql:// URL, not {backend}://.")


def display_url(url: str | URL) -> str:
    """The URL with its password hidden, for reports and logs."""
    parsed = make_url(url) if isinstance(url, str) else url
    return parsed.render_as_string(hide_password=True)

"""Where the ledger lives: the default SQLite file, and the URLs operators may give.

Every message here names `IAC_MCP_DATABASE_URL` and the accepted forms, and never the URL
itself: an operator's URL may hold a password. SQLAlchemy is imported when a URL is parsed,
not with this module: start-up only needs the default.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from iac_mcp.genesys.errors import ConfigurationError

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

DATABASE_URL_ENV = "IAC_MCP_DATABASE_URL"
FORMS = "sqlite:////absolute/path.sqlite3 or postgresql://user@host:port/database"

SQLITE_DRIVERS = ("sqlite", "sqlite+aiosqlite")
"""`sqlite+aiosqlite` is what earlier releases wrote: still read, normalised to the sqlite3 module."""
POSTGRESQL_DRIVERS = ("postgresql", "postgres", "postgresql+asyncpg")


class LedgerConfigError(ConfigurationError):
    """The ledger's URL or database cannot be used; the message never holds a password."""


def default_database_url(env: Mapping[str, str] = os.environ) -> str:
    """SQLite at `$XDG_STATE_HOME/iac-mcp/ledger.sqlite3`, else under `~/.local/state`.

    A relative `XDG_STATE_HOME` is ignored, as the XDG specification says: the ledger must
    not move with the working directory. The directory is created when the ledger opens.
    """
    state = env.get("XDG_STATE_HOME", "")
    base = Path(state) if os.path.isabs(state) else Path.home() / ".local" / "state"
    return f"sqlite:///{base / 'iac-mcp' / 'ledger.sqlite3'}"


def normalize_database_url(url: str) -> str:
    """The SQLAlchemy URL the ledger connects with (Python's sqlite3, or asyncpg) for an operator's
    ledger URL, as text."""
    return parse_database_url(url).render_as_string(hide_password=False)


def parse_database_url(url: str) -> URL:
    """`normalize_database_url` as a SQLAlchemy URL, which masks its password in `repr`.

    SQLite must name an absolute file (`~` is expanded): a relative one would move with the
    working directory, and `:memory:` would forget every consumed plan at exit.
    PostgreSQL accepts `?host=/socket/dir&port=N` for a unix socket, as libpq does.
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url.strip())
    except (ArgumentError, ValueError):
        raise LedgerConfigError(f"{DATABASE_URL_ENV} is not a database URL: use {FORMS}.") from None
    if parsed.drivername in SQLITE_DRIVERS:
        database = parsed.database or ""
        if database in ("", ":memory:") or database.startswith("file:"):
            raise LedgerConfigError(
                f"{DATABASE_URL_ENV} must name a SQLite file (the ledger has to outlive the process): use {FORMS}."
            )
        path = Path(database).expanduser()
        if not path.is_absolute():
            raise LedgerConfigError(
                f"{DATABASE_URL_ENV} names a relative SQLite path: write four slashes for an absolute one, {FORMS}."
            )
        return parsed.set(drivername="sqlite", database=str(path))
    if parsed.drivername in POSTGRESQL_DRIVERS:
        query = dict(parsed.query)
        port = query.pop("port", None)
        parsed = parsed.set(drivername="postgresql+asyncpg", query=query)
        if port is not None:
            if not (isinstance(port, str) and port.isdigit()):
                raise LedgerConfigError(f"{DATABASE_URL_ENV} has a port that is not a number: use {FORMS}.")
            parsed = parsed.set(port=int(port))
        return parsed
    raise LedgerConfigError(
        f"{DATABASE_URL_ENV} must be a sqlite:// or postgresql:// URL (drivers sqlite3, asyncpg): use {FORMS}."
    )


def display_url(url: str | URL) -> str:
    """The URL with its password hidden, for reports and logs; never raises."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url) if isinstance(url, str) else url
    except (ArgumentError, ValueError):
        return "(not a database URL)"
    return parsed.render_as_string(hide_password=True)

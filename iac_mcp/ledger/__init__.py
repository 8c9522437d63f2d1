"""The server's durable state: consumed plans, submissions in doubt, claimed jobs, the
identity Genesys knows us by, and the audit trail (SQLite by default, PostgreSQL for fleets).

`Ledger` is imported on first use: it brings SQLAlchemy (0.3 s to import), which a server
over stdio loads while it already answers `tools/list` (`open_at`).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

import anyio.to_thread

from iac_mcp.ledger.records import Attempt, AuditRecord, PlanRecord, PlanUse
from iac_mcp.ledger.urls import LedgerConfigError, default_database_url, display_url, normalize_database_url, parse_database_url

if TYPE_CHECKING:
    from iac_mcp.ledger.store import Ledger

__all__ = [
    "Attempt",
    "AuditRecord",
    "Ledger",
    "LedgerConfigError",
    "PlanRecord",
    "PlanUse",
    "default_database_url",
    "display_url",
    "normalize_database_url",
    "open_at",
    "parse_database_url",
]


async def open_at(url: str) -> Ledger:
    """`Ledger.open(url)`, with SQLAlchemy imported in a worker thread: the event loop goes on
    serving requests that need no ledger meanwhile."""
    store = await anyio.to_thread.run_sync(import_module, "iac_mcp.ledger.store")
    ledger: Ledger = await store.Ledger.open(url)
    return ledger


def __getattr__(name: str) -> Any:
    if name == "Ledger":
        from iac_mcp.ledger.store import Ledger

        return Ledger
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

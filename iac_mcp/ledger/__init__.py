"""The server's durable state: consumed plans, submissions in doubt, claimed jobs, the
identity Genesys knows us by, and the audit trail (SQLite by default, PostgreSQL for fleets)."""

from iac_mcp.ledger.records import Attempt, AuditRecord, PlanRecord, PlanUse
from iac_mcp.ledger.store import Ledger
from iac_mcp.ledger.urls import LedgerConfigError, default_database_url, display_url, normalize_database_url, parse_database_url

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
    "parse_database_url",
]

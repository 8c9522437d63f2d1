"""The embedded sandbox: a faithful simulator of the Genesys Cloud IaC API (see README.md)."""

from iac_mcp.sandbox.app import create_app
from iac_mcp.sandbox.faults import ConnectionDropped, drop, drop_after, garbled, slow, status
from iac_mcp.sandbox.settings import DEFAULT_USERS, SandboxOrg, SandboxSettings, SandboxUser, named_orgs

__all__ = [
    "DEFAULT_USERS",
    "ConnectionDropped",
    "SandboxOrg",
    "SandboxSettings",
    "SandboxUser",
    "create_app",
    "drop",
    "drop_after",
    "garbled",
    "named_orgs",
    "slow",
    "status",
]

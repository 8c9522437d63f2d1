"""The embedded sandbox: a faithful simulator of the Genesys Cloud IaC API (see README.md)."""

from iac_mcp.sandbox.app import create_app
from iac_mcp.sandbox.faults import ConnectionDropped, drop, drop_after, garbled, slow, status
from iac_mcp.sandbox.settings import SandboxSettings

__all__ = ["ConnectionDropped", "SandboxSettings", "create_app", "drop", "drop_after", "garbled", "slow", "status"]

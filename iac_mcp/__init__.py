"""iac-mcp: an MCP server for the Genesys Cloud Infrastructure-as-Code API."""

__version__ = "0.1.0"

"""Network transports for the MCP server (stdio needs none: mcp runs it directly).

Kept free of heavy imports, so the CLI can read these defaults without loading mcp.
"""

DEFAULT_MAX_BODY_BYTES = 1024 * 1024
"""Tool arguments are small; a megabyte is generous and keeps memory per request bounded."""

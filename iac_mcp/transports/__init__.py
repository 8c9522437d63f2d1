"""Network transports for the MCP server (stdio needs none: mcp runs it directly)."""

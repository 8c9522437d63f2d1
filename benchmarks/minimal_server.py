"""The start-up benchmark's baseline: the smallest `MCPServer` worth spawning, one trivial tool over stdio.

Whatever mcp itself imports and does before the first `tools/list` answer is paid here too,
so the ratio to it is what iac-mcp adds.
"""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer

server = MCPServer("minimal")


@server.tool()
def echo(text: str) -> str:
    """Answer with `text`."""
    return text


if __name__ == "__main__":
    server.run("stdio")

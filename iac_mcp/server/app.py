"""Building the MCP server: instructions, lifespan, and every tool registered once."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from importlib.resources import files

from mcp.server.mcpserver import MCPServer

from iac_mcp import __version__
from iac_mcp.genesys.client import IacClient
from iac_mcp.server.state import Mode, ServerState
from iac_mcp.server.tools import accelerators, jobs

INSTRUCTIONS = files("iac_mcp.server").joinpath("instructions.md").read_text(encoding="utf-8")

ClientFactory = Callable[[], AbstractAsyncContextManager[IacClient]]
"""Opens the Genesys client for the server's lifetime (real Genesys or the sandbox)."""


def build_server(connect: ClientFactory, *, mode: Mode = "apply", signing_key: bytes) -> MCPServer[ServerState]:
    """The iac-mcp server over whatever Genesys `connect` opens."""

    @asynccontextmanager
    async def lifespan(_: MCPServer[ServerState]) -> AsyncIterator[ServerState]:
        async with connect() as client:
            yield ServerState(client=client, mode=mode, signing_key=signing_key)

    server: MCPServer[ServerState] = MCPServer(
        "iac-mcp",
        title="Genesys Cloud IaC",
        version=__version__,
        instructions=INSTRUCTIONS,
        lifespan=lifespan,
    )
    accelerators.register(server)
    jobs.register(server, mode)
    return server

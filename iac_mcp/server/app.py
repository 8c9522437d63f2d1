"""Building the MCP server: instructions, lifespan, and every tool registered once."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from importlib.resources import files

from mcp.server.mcpserver import MCPServer
from mcp.server.request_state import RequestStateSecurity

from iac_mcp import __version__
from iac_mcp.genesys.client import IacClient
from iac_mcp.server import completions, prompts, resources
from iac_mcp.server.state import Mode, ServerState
from iac_mcp.server.tools import accelerators, jobs, submit

INSTRUCTIONS = files("iac_mcp.server").joinpath("instructions.md").read_text(encoding="utf-8")

ClientFactory = Callable[[], AbstractAsyncContextManager[IacClient]]
"""Opens the Genesys client for the server's lifetime (real Genesys or the sandbox)."""


def build_server(
    connect: ClientFactory,
    *,
    mode: Mode = "apply",
    signing_key: bytes,
    request_state_security: RequestStateSecurity | None = None,
) -> MCPServer[ServerState]:
    """The iac-mcp server over whatever Genesys `connect` opens.

    `request_state_security` seals mcp's multi-round `request_state`; replicas must share
    it (see `iac_mcp.transports.http`). None keeps mcp's per-process key.
    """

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
        request_state_security=request_state_security,
    )
    accelerators.register(server)
    submit.register(server, mode)
    jobs.register(server)
    prompts.register(server)
    resources.register(server)
    completions.register(server)
    return server

"""The tool inventory: every tool the server offers, in one list, registered one way.

Each tool module defines its tools as `Tool` values, schema (the handler's signature),
description, annotations and handler side by side. `inventory(mode)` is the one list;
`register` adds it to the server behind one error boundary, so that every Genesys
failure becomes an `isError` result that says what failed and the next step.
"""

from __future__ import annotations

from collections.abc import Sequence

from mcp.server.mcpserver import MCPServer

from iac_mcp.server.tools import accelerators, jobs, submit
from iac_mcp.server.tools.common import Tool, guarded
from iac_mcp.settings import Mode


def inventory(mode: Mode) -> Sequence[Tool]:
    """The tools `mode` allows, in the order clients list them."""
    return (
        accelerators.LIST_ACCELERATORS,
        accelerators.DESCRIBE_ACCELERATOR,
        *submit.tools_for(mode),
        jobs.GET_JOB,
        jobs.LIST_JOBS,
    )


def register(server: MCPServer, mode: Mode) -> None:
    for tool in inventory(mode):
        server.add_tool(
            guarded(tool.handler, tool.action, subject=tool.subject),
            name=tool.name,
            title=tool.title,
            description=tool.description,
            annotations=tool.annotations,
        )

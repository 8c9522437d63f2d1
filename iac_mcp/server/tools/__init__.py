"""The tool inventory: every tool the server offers, in one list, registered one way.

Each tool module defines its tools as `Tool` values, schema (the handler's signature),
description, annotations and handler side by side. `inventory(mode)` is the one list;
`register` adds it to the server behind one error boundary, so that every Genesys
failure becomes an `isError` result that says what failed and the next step, and under
telemetry: a span and metrics for each call, resolvers included (`iac_mcp.telemetry`).
"""

from __future__ import annotations

from collections.abc import Sequence

from mcp.server.mcpserver import MCPServer

from iac_mcp.server.tools import accelerators, jobs, submit
from iac_mcp.server.tools.common import Tool, guarded
from iac_mcp.settings import Mode
from iac_mcp.telemetry import trace_tool_calls, watched


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
    server.middleware.append(trace_tool_calls)  # around the whole call: mcp runs resolvers before the handler
    for tool in inventory(mode):
        server.add_tool(
            watched(guarded(tool.handler, tool.action, subject=tool.subject)),
            name=tool.name,
            title=tool.title,
            description=tool.description,
            annotations=tool.annotations,
        )

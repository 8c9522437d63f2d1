"""The tool inventory: every tool the server offers, in one list, registered one way.

Each tool module defines its tools as `Tool` values, schema (the handler's signature),
description, annotations and handler side by side. `inventory(mode, orgs)` is the one list;
`register` adds it to the server behind one error boundary, so that every Genesys
failure becomes an `isError` result that says what failed and the next step, and under
telemetry: a span and metrics for each call, resolvers included (`iac_mcp.telemetry`).
Every schema is compacted there (`compact_schema`), so `tools/list` stays lean whatever
the models say.
"""

from __future__ import annotations

from collections.abc import Sequence

from mcp.server.mcpserver import MCPServer
from mcp.shared.inbound import X_MCP_HEADER_KEY

from iac_mcp.profiles import Profile
from iac_mcp.server.tools import accelerators, jobs, promote, submit
from iac_mcp.server.tools.common import ICONS, Tool, compact_schema, guarded, output_schema
from iac_mcp.settings import Mode
from iac_mcp.telemetry import trace_tool_calls, watched


def inventory(mode: Mode, orgs: int) -> Sequence[Tool]:
    """The tools `mode` allows, in the order clients list them; promote-job only where there
    are two orgs or more, since with one there is nowhere to promote to."""
    return (
        accelerators.LIST_ACCELERATORS,
        accelerators.DESCRIBE_ACCELERATOR,
        *submit.tools_for(mode),
        jobs.GET_JOB,
        jobs.LIST_JOBS,
        *(() if mode is Mode.READ_ONLY or orgs < 2 else (promote.PROMOTE_JOB,)),
    )


def register(server: MCPServer, mode: Mode, profiles: Sequence[Profile]) -> None:
    server.middleware.append(trace_tool_calls)  # around the whole call: mcp runs resolvers before the handler
    for tool in inventory(mode, len(profiles)):
        server.add_tool(
            watched(guarded(tool.handler, tool.action, subject=tool.subject)),
            name=tool.name,
            title=tool.title,
            description=tool.description,
            annotations=tool.annotations,
            icons=ICONS,
        )
        _compact(server, tool.name)
        _offer_orgs(server, tool.name, profiles)


def _compact(server: MCPServer, name: str) -> None:
    """Lean input and output schemas; the output schema is the one results are pruned by."""
    registered = server._tool_manager.get_tool(name)  # mcp 2.3 has no public way to amend a schema
    assert registered is not None
    registered.parameters = compact_schema(registered.parameters)
    derived = registered.fn_metadata.output_schema
    if derived is not None:
        registered.fn_metadata.output_schema = output_schema(derived)


ORG_HEADER = "Org"
"""`org` is mirrored as the `Mcp-Param-Org` HTTP header, so gateways can apply policy per org."""


def _offer_orgs(server: MCPServer, name: str, profiles: Sequence[Profile]) -> None:
    """Narrow the tool's org arguments to the names of the profiles, so the agent sees what exists,
    or, with one org, leave `org` out: there is nothing to choose (a call naming it still works).

    The names are known only when the server is built, after the handler's signature fixed
    the schema; the handler still refuses any other name itself (`Services.at`).
    """
    registered = server._tool_manager.get_tool(name)  # mcp 2.3 has no public way to amend a schema
    assert registered is not None
    properties = registered.parameters["properties"]
    if len(profiles) == 1:
        properties.pop("org", None)
        return
    listing = "; ".join(f"{profile.name} = {profile.label} ({profile.mode})" for profile in profiles)
    if "org" in properties:
        properties["org"] = {
            "type": "string",
            "enum": [profile.name for profile in profiles],
            "default": profiles[0].name,
            "description": f"Org (profile): {listing}.",
            X_MCP_HEADER_KEY: ORG_HEADER,
        }
    for argument in ("from_org", "to_org"):
        if argument in properties:
            properties[argument] |= {"enum": [profile.name for profile in profiles]}

"""What every tool module shares: the state lookup, id arguments, annotations, results."""

from __future__ import annotations

from typing import Annotated

from mcp.server.mcpserver import Context
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, Field

from iac_mcp.genesys.ids import MAX_ID_LENGTH
from iac_mcp.server.state import ServerState

ACCELERATOR_ID = Annotated[str, Field(description="Accelerator id, as list-accelerators returned it.", max_length=MAX_ID_LENGTH)]
JOB_ID = Annotated[str, Field(description="Job id, as submit-job or list-jobs returned it.", max_length=MAX_ID_LENGTH)]

READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=True)


def server_state(ctx: Context) -> ServerState:
    return ctx.request_context.lifespan_context


def structured(model: BaseModel, text: str) -> CallToolResult:
    """A result with the model as structured content and a concise text rendering beside it."""
    return CallToolResult(
        content=[TextContent(type="text", text=text)],
        structured_content=model.model_dump(mode="json"),
    )

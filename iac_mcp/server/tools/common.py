"""What every tool shares: the `Tool` record, the error boundary, id arguments, annotations."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal, ParamSpec, TypeVar, cast

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, Field

from iac_mcp.genesys.errors import GenesysError
from iac_mcp.genesys.ids import MAX_ID_LENGTH
from iac_mcp.logic.orgs import org_line
from iac_mcp.logic.redaction import mask_values
from iac_mcp.server.errors import describe_error
from iac_mcp.server.services import Org, Services
from iac_mcp.vocabulary import ToolName

ACCELERATOR_ID = Annotated[
    str, Field(description=f"Accelerator id, as {ToolName.LIST_ACCELERATORS} returned it.", max_length=MAX_ID_LENGTH)
]
ORG = Annotated[
    str | None,
    Field(description="The org (profile) to act on, by name; default: the server's default org.", max_length=64),
]
"""Every tool's `org`; the registration narrows its schema to the profiles' names."""
JOB_ID = Annotated[
    str, Field(description=f"Job id, as {ToolName.SUBMIT_JOB} or {ToolName.LIST_JOBS} returned it.", max_length=MAX_ID_LENGTH)
]

READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=True)

Subject = Literal["accelerator", "job"]
P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True)
class Tool:
    """One tool as clients see it, and the handler behind it.

    `action` names what the tool does in an error ("describe accelerator {accelerator_id}"),
    filled in from the call's arguments; `subject` says which listing finds the right id.
    """

    name: ToolName
    title: str
    description: str
    annotations: ToolAnnotations
    handler: Callable[..., Awaitable[CallToolResult]]
    action: str
    subject: Subject = "accelerator"


def guarded(handler: Callable[P, Awaitable[R]], action: str, *, subject: Subject = "accelerator") -> Callable[P, Awaitable[R]]:
    """The error boundary: a `GenesysError` becomes a `ToolError` an agent can act on.

    Also wraps resolvers, so checks that run before a tool body fail the same way.
    """
    signature = inspect.signature(handler)

    @functools.wraps(handler)
    async def boundary(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await handler(*args, **kwargs)
        except GenesysError as error:
            arguments = signature.bind_partial(*args, **kwargs).arguments
            message = describe_error(action.format_map(_Blank(arguments)), error, subject=subject)
            raise ToolError(_masked(message, arguments)) from error
        except ToolError as error:  # ours, but it may quote an upstream cause
            arguments = signature.bind_partial(*args, **kwargs).arguments
            raise ToolError(_masked(str(error), arguments)) from error.__cause__

    return boundary


def _masked(message: str, arguments: dict[str, Any]) -> str:
    """Upstream text may echo a credential or a secret the call carried: mask them all."""
    ctx = next((value for value in arguments.values() if isinstance(value, Context)), None)
    if ctx is None:
        return message
    state = services(ctx)
    credentials = [secret for org in state.orgs.values() for secret in org.client.credentials()]
    return mask_values(message, (*credentials, *_call_secrets(state, arguments)))


def _call_secrets(state: Services, arguments: dict[str, Any]) -> list[str]:
    """The sensitive values among the call's `parameters`: by the spec's names when it is
    cached, else every value (an error must not be the one place a secret slips out)."""
    parameters = arguments.get("parameters")
    org = state.orgs.get(str(arguments.get("org") or state.default_org))
    if not isinstance(parameters, dict):
        return []
    names = org.specs.cached_sensitive_names(str(arguments.get("accelerator_id", ""))) if org else None
    return [str(value) for name, value in parameters.items() if names is None or name in names]


class _Blank(dict[str, Any]):
    """Arguments for an action text; a missing one reads as blank rather than failing."""

    def __missing__(self, key: str) -> str:
        return ""


def services(ctx: Context) -> Services:
    return cast("Services", ctx.request_context.lifespan_context)


def structured(model: BaseModel, text: str, org: Org) -> CallToolResult:
    """A result with the model as structured content and a concise text rendering beside it,
    both naming the org: two orgs of one server look alike in a client's prompts."""
    named = model.model_copy(update={"org": org.view})
    return CallToolResult(
        content=[TextContent(type="text", text=f"{org_line(org.view)}\n{text}")],
        structured_content=named.model_dump(mode="json"),
    )

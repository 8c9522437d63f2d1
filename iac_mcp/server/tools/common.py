"""What every tool shares: the `Tool` record, the error boundary, id arguments, annotations,
and the one place that keeps schemas and structured results lean."""

from __future__ import annotations

import functools
import inspect
import json
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal, ParamSpec, TypeVar, cast
from urllib.parse import quote

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, Icon, TextContent, ToolAnnotations
from pydantic import BaseModel, Field

from iac_mcp.genesys.errors import GenesysError
from iac_mcp.genesys.ids import MAX_ID_LENGTH
from iac_mcp.logic.orgs import org_line, org_named
from iac_mcp.logic.redaction import mask_values
from iac_mcp.server.errors import describe_error
from iac_mcp.server.services import Org, Services, Starting
from iac_mcp.vocabulary import ToolName

ACCELERATOR_ID = Annotated[str, Field(description=f"From {ToolName.LIST_ACCELERATORS}.", max_length=MAX_ID_LENGTH)]
ORG = Annotated[str | None, Field(description="The org (profile) to act on; default: the first.", max_length=64)]
"""Every tool's `org`; the registration narrows its schema to the profiles' names."""
JOB_ID = Annotated[str, Field(description=f"From {ToolName.SUBMIT_JOB} or {ToolName.LIST_JOBS}.", max_length=MAX_ID_LENGTH)]

ICON_SVG = "<svg xmlns='http://www.w3.org/2000/svg' viewBox='0,0,8,8'><path stroke='#f51' d='M1,2h6M1,4h6M1,6h6'/></svg>"
"""Three stacked layers, infrastructure as code, in Genesys orange: the server's and every tool's icon."""
ICONS = [Icon(src="data:image/svg+xml," + quote(ICON_SVG, safe="/:=',"))]
"""Percent-encoded, so the data URI is a valid URI (conformance checks the format) and shorter
than base64; it names its media type itself."""

READ_ONLY = ToolAnnotations(read_only_hint=True, open_world_hint=True)
"""Destructive and idempotent hints mean something only when a tool is not read-only (MCP spec)."""

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
    state = ctx.request_context.lifespan_context if ctx is not None else None
    if not isinstance(state, Services):  # no context, or no services opened: the call used no credential
        return message
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
    """The call's services; a refusal naming why when they could not open (`Starting.ready`)."""
    state = ctx.request_context.lifespan_context
    return state.ready() if isinstance(state, Starting) else cast("Services", state)


def structured(model: BaseModel, text: str, org: Org) -> CallToolResult:
    """A result with the model as structured content and a concise text rendering beside it,
    both naming the org: two orgs of one server look alike in a client's prompts. The
    structured content is lean (`lean_content`): what the model lets be absent is."""
    view = org.view
    named = model.model_copy(update={"org": org_named(view)})
    return CallToolResult(
        content=[TextContent(type="text", text=f"{org_line(view)}\n{text}")],
        structured_content=lean_content(named),
    )


# --- Lean schemas and results ------------------------------------------------------------


def compact_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A tool schema without what pydantic adds and nobody reads, with its meaning intact.

    Gone: every `title` (pydantic's, derived from the field or class name), the default
    `additionalProperties: true`, the class
    docstrings of models (the tool's description says what the result is), `default: null`
    and the `anyOf [T, null]` of optional fields, which become `T` and leave `required`:
    results never carry nulls (`lean_content`) and absent arguments are None. Identical
    definitions become one; a definition used once is written where it is used, so `$defs`
    holds only what is shared. Field descriptions, defaults, enums and bounds stay as they are.
    """
    compacted = _compact(schema)
    defs = {name: _compact(definition) for name, definition in schema.get("$defs", {}).items()}
    same: dict[str, str] = {}
    seen: dict[str, str] = {}
    for name, definition in defs.items():
        same[name] = seen.setdefault(json.dumps(definition, sort_keys=True), name)
    defs = {name: definition for name, definition in defs.items() if same[name] == name}
    uses = Counter(same.get(ref.removeprefix(_DEFS), ref) for ref in _refs([compacted, *defs.values()]))
    inline = {name for name in defs if uses[name] <= 1}
    compacted = cast("dict[str, Any]", _resolved(compacted, defs, same, inline))
    shared = {name: _resolved(defs[name], defs, same, inline) for name in defs if name not in inline}
    if shared:
        compacted["$defs"] = shared
    return compacted


_DEFS = "#/$defs/"


def same_ref(name: str) -> str:
    return _DEFS + name


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []


def _resolved(node: Any, defs: dict[str, Any], same: dict[str, str], inline: set[str]) -> Any:
    """References to duplicates pointed at the one kept; single-use definitions written in place."""
    if isinstance(node, list):
        return [_resolved(value, defs, same, inline) for value in node]
    if not isinstance(node, dict):
        return node
    out = {key: _resolved(value, defs, same, inline) for key, value in node.items()}
    ref = out.get("$ref")
    if isinstance(ref, str) and ref.startswith(_DEFS):
        name = same.get(ref.removeprefix(_DEFS), ref.removeprefix(_DEFS))
        siblings = {key: value for key, value in out.items() if key != "$ref"}
        if name in inline:
            return {**_resolved(defs[name], defs, same, inline), **siblings}
        return {"$ref": same_ref(name), **siblings}
    return out


_OPEN = ("additionalProperties", True)
"""JSON Schema's default, spelled out by pydantic for `dict[str, Any]`."""
_SUBSCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
_SUBSCHEMAS = ("items", "additionalProperties", "not")


def _compact(node: dict[str, Any]) -> dict[str, Any]:
    out = {key: value for key, value in node.items() if key not in ("title", "$defs") and (key, value) != _OPEN}
    if "properties" in out:
        out.pop("description", None)
        required = list(out.get("required", ()))
        properties: dict[str, Any] = {}
        for name, prop in out["properties"].items():
            properties[name], nullable = _non_null(_compact(prop))
            if nullable and name in required:
                required.remove(name)
        out["properties"] = properties
        if required:
            out["required"] = required
        else:
            out.pop("required", None)
    for key in _SUBSCHEMAS:
        if isinstance(out.get(key), dict):
            out[key] = _compact(out[key])
    for key in _SUBSCHEMA_LISTS:
        if key in out:
            out[key] = [_compact(sub) for sub in out[key]]
    return out


def _non_null(prop: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """(the property without its null alternative, whether it had one)."""
    choices = prop.get("anyOf")
    nullable = "default" in prop and prop["default"] is None
    out = {key: value for key, value in prop.items() if not (key == "default" and value is None)}
    if isinstance(choices, list) and {"type": "null"} in choices:
        nullable = True
        rest = [choice for choice in choices if choice != {"type": "null"}]
        del out["anyOf"]
        out = {**rest[0], **out} if len(rest) == 1 else {**out, "anyOf": rest}
    return out, nullable


def output_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The output schema a tool advertises, from the one mcp derived from its result model
    (`StrictJsonSchema`, so an unserialisable result type fails at registration): compacted,
    and structure only.

    Clients validate results by it and code is written against it, but no client hands it to
    the model (tool definitions carry input schemas only), so its descriptions would cost every
    session bytes and every call validation time for nobody: the tool's description says what
    a result means, its field names and enums say the rest. Defaults go too: a result always
    carries its values (`lean_content` leaves out only nulls and empties).
    """
    return _structure(compact_schema(schema))


_ANNOTATIONS = ("description", "default")


def _structure(node: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _ANNOTATIONS:
            continue
        if key in ("properties", "$defs"):
            out[key] = {name: _structure(sub) for name, sub in value.items()}
        elif key in _SUBSCHEMAS and isinstance(value, dict):
            out[key] = _structure(value)
        elif key in _SUBSCHEMA_LISTS:
            out[key] = [_structure(sub) for sub in value]
        else:
            out[key] = value
    return out


def lean_content(model: BaseModel) -> dict[str, Any]:
    """The model as structured content without what it lets be absent: a field that is null (the
    schemas never offer one), or an empty list, object or string in a field that has a
    default; a free-form dict's values stay as they are. Flags, counts and other values always
    stay. Driven by the model, not the schema, so an advertised schema may refer to another
    tool's result instead of repeating it."""
    return cast("dict[str, Any]", _lean(model, model.model_dump(mode="json")))


def _lean(value: Any, dumped: Any) -> Any:
    if isinstance(value, BaseModel) and isinstance(dumped, dict):
        fields = type(value).model_fields
        return {
            name: _lean(getattr(value, name), data)
            for name, data in dumped.items()
            if not (data is None or (not fields[name].is_required() and _empty(data)))
        }
    if isinstance(value, list) and isinstance(dumped, list):
        return [_lean(item, data) for item, data in zip(value, dumped, strict=True)]
    return dumped


def _empty(value: Any) -> bool:
    return isinstance(value, (list, dict, str)) and not value

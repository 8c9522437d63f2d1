"""MCP resources: an accelerator's specification and a job, as JSON a client can attach.

Tools are for the agent to act; resources let a person or client put a specification or
a job into the conversation as context. Both are masked like the tools' output: the
default of a sensitive parameter and every secret value this process has seen never
leave the server, and jobs come from the same masking `JobReader` as the tools'.
"""

from __future__ import annotations

import json
from typing import Any

from mcp.server.caching import CacheHint
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError

from iac_mcp.genesys.errors import GenesysError, InvalidIdError, NotFoundError
from iac_mcp.genesys.models import AcceleratorSpecification
from iac_mcp.logic.jobs import OUTPUT_URI, job_output
from iac_mcp.logic.redaction import MASK
from iac_mcp.server.errors import describe_error
from iac_mcp.server.services import current_services
from iac_mcp.server.tools.common import services

ACCELERATOR_URI = "iac://accelerators/{accelerator_id}"
JOB_URI = "iac://jobs/{job_id}"
JSON = "application/json"


def _failure(action: str, error: GenesysError, *, subject: str) -> ResourceError:
    """Not-found (MCP -32602, as SEP-2164 asks) for an unknown or impossible id; else -32603.

    An invalid id is refused by the client before any request, and can name no resource.
    """
    message = describe_error(action, error, subject=subject)
    if isinstance(error, (NotFoundError, InvalidIdError)):
        return ResourceNotFoundError(message)
    return ResourceError(message)


def masked_spec(spec: AcceleratorSpecification) -> dict[str, Any]:
    """The specification as Genesys sends it, with every sensitive parameter's default masked."""
    copy = spec.model_copy(deep=True)
    for page in copy.presentation:
        for _, prop in page.schema_.named_properties() if page.schema_ else ():
            if prop.is_sensitive and prop.default is not None:
                prop.default = MASK
    masked: dict[str, Any] = copy.to_wire()
    return masked


async def accelerator_resource(accelerator_id: str, ctx: Context) -> str:
    here = services(ctx).default
    try:
        spec = await here.specs.get(here.client, accelerator_id)
    except GenesysError as error:
        raise _failure(f"read accelerator {accelerator_id}", error, subject="accelerator") from error
    return json.dumps(masked_spec(spec), indent=2, ensure_ascii=False)


async def job_resource(job_id: str, ctx: Context) -> str:
    here = services(ctx).default
    try:
        job = await here.jobs.get(job_id, details=True)
    except GenesysError as error:
        raise _failure(f"read job {job_id}", error, subject="job") from error
    return json.dumps(job.to_wire(), indent=2, ensure_ascii=False)


async def job_output_resource(job_id: str, ctx: Context) -> str:
    """The whole Terraform output that get-job cuts to `max_output_chars`, masked the same way."""
    here = services(ctx).default
    try:
        job = await here.jobs.get(job_id, details=True)
    except GenesysError as error:
        raise _failure(f"read the output of job {job_id}", error, subject="job") from error
    return job_output(job)


AUDIT_URI = "iac://audit/recent"
AUDIT_SHOWN = 50


async def audit_resource() -> str:
    """The newest audit records (submission attempts and their outcomes), never a secret."""
    state = current_services()
    if state is None:
        raise ResourceError("The audit trail is not available outside a request.")
    records = await state.ledger.recent_audit(limit=AUDIT_SHOWN)
    return json.dumps([record.to_json() for record in records], indent=2, ensure_ascii=False)


LISTING_TTL_MS = 24 * 3600 * 1000
SPEC_TTL_MS = 60 * 1000
CACHE_HINTS: dict[Any, CacheHint] = {
    "tools/list": CacheHint(LISTING_TTL_MS, "public"),
    "prompts/list": CacheHint(LISTING_TTL_MS, "public"),
    "resources/templates/list": CacheHint(LISTING_TTL_MS, "public"),
    "resources/read": CacheHint(0, "private"),
}
"""What a 2026-07-28 client may cache: the listings are fixed for the life of a server (the same
for every caller), reads are the caller's own and at once stale, but for specs (`spec_freshness`)."""


async def spec_freshness(ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
    """Middleware: a specification read stays fresh for a minute (jobs and the audit trail do not);
    only where the era carries cache hints at all (the result already has `ttlMs`)."""
    result = await call_next(ctx)
    uri = str((ctx.params or {}).get("uri", ""))
    spec = ctx.method == "resources/read" and uri.startswith("iac://accelerators/")
    if spec and isinstance(result, dict) and "ttlMs" in result:
        return {**result, "ttlMs": SPEC_TTL_MS}
    return result


def register(server: MCPServer) -> None:
    server.resource(
        ACCELERATOR_URI,
        name="accelerator",
        title="Accelerator specification",
        description=(
            "The full specification of one Genesys Cloud IaC accelerator (parameters on every form page, "
            "permissions, products, documentation, resources it creates) as Genesys returns it; defaults of "
            "sensitive parameters are masked."
        ),
        mime_type=JSON,
    )(accelerator_resource)
    server.resource(
        JOB_URI,
        name="job",
        title="IaC job",
        description=(
            "One Genesys Cloud IaC job with details (status, error, Terraform output and rollback output) as "
            "Genesys returns it; sensitive values in the output are masked."
        ),
        mime_type=JSON,
    )(job_resource)
    server.resource(
        OUTPUT_URI,
        name="job-output",
        title="IaC job output",
        description="The whole Terraform output of one job (then its rollback output), masked like get-job's.",
        mime_type="text/plain",
    )(job_output_resource)
    server.resource(
        AUDIT_URI,
        name="audit",
        title="Recent audit records",
        description=(
            f"The {AUDIT_SHOWN} newest records of the audit trail: every submission attempt and outcome with time, "
            "principal, org, accelerator, dry or real run, masked parameters, the plan behind it, how consent was "
            "obtained, the job id and its final status."
        ),
        mime_type=JSON,
    )(audit_resource)

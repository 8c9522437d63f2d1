"""`iac-mcp demo`: a scripted agent drives the real server over stdio against the sandbox.

Nothing is faked between the client and the server: the demo spawns `iac-mcp serve
--sandbox` as a subprocess, connects mcp's own client over stdio and makes the calls an
assistant would, printing each request and the server's text answer.
"""

from __future__ import annotations

import json
import sys
import textwrap
import time
from typing import Any

import anyio
from mcp import Client, StdioServerParameters
from mcp.client.context import ClientRequestContext
from mcp.types import CallToolResult, ElicitRequestParams, ElicitResult

from iac_mcp.vocabulary import ToolName

GOAL = "Set up a support queue for our premium customers"
SEARCH = "queue"


def example_arguments(schema: dict[str, Any], *, include_optional: bool = False) -> dict[str, Any]:
    """Values an agent would fill in from a describe-accelerator JSON Schema.

    Defaults are kept, enums take their first allowed value, and other values are
    plausible placeholders of the right type.
    """
    values: dict[str, Any] = {}
    required = set(schema.get("required", []))
    for name, prop in schema.get("properties", {}).items():
        if name not in required and not include_optional:
            continue
        if "default" in prop:
            values[name] = prop["default"]
        elif "enum" in prop:
            values[name] = prop["enum"][0]
        else:
            values[name] = {"boolean": True, "integer": 30, "number": 0.8}.get(
                prop.get("type", "string"), f"premium-{name.replace('_', '-')}"
            )
    return values


def mistaken_arguments(schema: dict[str, Any], good: dict[str, Any]) -> dict[str, Any]:
    """The good values with the kind of mistakes an agent makes: a gap, a wrong type, a typo."""
    wrong = dict(good)
    props = schema.get("properties", {})
    required = [n for n in schema.get("required", []) if n in wrong]
    if required:
        del wrong[required[0]]
    for name, prop in props.items():
        if prop.get("type") in ("integer", "number", "boolean"):
            wrong[name] = "lots"
            break
    for name, prop in props.items():
        if "enum" in prop:
            wrong[name] = str(prop["enum"][0]).upper() + "!"
            break
    wrong["queue_colour"] = "gold"
    return wrong


class Transcript:
    def __init__(self) -> None:
        self.step = 0
        self.started = time.perf_counter()

    def heading(self, title: str) -> None:
        self.step += 1
        print(f"\n━━ {self.step}. {title} " + "━" * max(0, 60 - len(title)))

    def user(self, text: str) -> None:
        print(f"👤 user   │ {text}")

    def agent(self, text: str) -> None:
        print(f"🤖 agent  │ {text}")

    def call(self, tool: str, arguments: dict[str, Any]) -> None:
        shown = json.dumps(arguments)
        print(f"🤖 agent  → {tool} {shown if len(shown) < 300 else shown[:297] + '...'}")

    def result(self, result: CallToolResult, *, max_lines: int = 30) -> None:
        text = "\n".join(c.text for c in result.content if c.type == "text")
        lines = text.splitlines()
        if len(lines) > max_lines:
            lines = [*lines[:max_lines], f"... ({len(lines) - max_lines} more lines)"]
        marker = "✗ error" if result.is_error else "server "
        for i, line in enumerate(lines):
            print(f"🛠  {marker if i == 0 else '       '} │ {textwrap.shorten(line, 160) if len(line) > 160 else line}")


async def _drive(job_duration: float) -> None:
    out = Transcript()
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "iac_mcp", "serve", "--sandbox", "--job-duration", str(job_duration), "--log-level", "WARNING"],
    )

    async def confirm(context: ClientRequestContext, params: ElicitRequestParams) -> ElicitResult:
        print("❓ client │ " + params.message.replace("\n", "\n           │ "))
        out.user("Yes, apply it.")
        return ElicitResult(action="accept", content={"confirm": True})

    async def progress(progress: float, total: float | None, message: str | None) -> None:
        print(f"⏳ progress│ {message} ({progress:g}/{total or 0:g})")

    async with Client(params, elicitation_callback=confirm) as client:
        tools = await client.list_tools()
        print(f"Connected over stdio to the iac-mcp server on the embedded sandbox (protocol {client.protocol_version}).")
        print("Tools: " + ", ".join(t.name for t in tools.tools))

        async def call(tool: str, arguments: dict[str, Any]) -> CallToolResult:
            out.call(tool, arguments)
            result = await client.call_tool(tool, arguments, progress_callback=progress)
            out.result(result)
            return result

        out.heading("Discover")
        out.user(GOAL)
        found = await call(ToolName.LIST_ACCELERATORS, {"name": SEARCH, "page_size": 5})
        chosen = found.structured_content["accelerators"][0]
        out.agent(f"{chosen['name']} fits. Let me see what it needs.")

        out.heading("Describe")
        described = await call(ToolName.DESCRIBE_ACCELERATOR, {"accelerator_id": chosen["id"]})
        schema = described.structured_content["parameters_schema"]
        good = example_arguments(schema, include_optional=True)

        out.heading("A first attempt, with mistakes")
        await call(ToolName.SUBMIT_JOB, {"accelerator_id": chosen["id"], "parameters": mistaken_arguments(schema, good)})
        out.agent("Every problem is listed at once; fixing them all.")

        out.heading("Dry run")
        planned = await call(ToolName.SUBMIT_JOB, {"accelerator_id": chosen["id"], "parameters": good, "dry_run": True})
        plan_job = planned.structured_content["job"]["id"]
        plan_token = planned.structured_content["plan_token"]
        plan = await call(ToolName.GET_JOB, {"job_id": plan_job, "wait_seconds": 30})
        terraform = plan.structured_content.get("terraform") or {}
        out.agent(
            f"The plan would create {terraform.get('to_add', '?')} resource(s) and change or destroy nothing. Shall I apply it?"
        )
        out.user("Go ahead.")

        out.heading("Apply, with consent")
        applied = await call(
            ToolName.SUBMIT_JOB, {"accelerator_id": chosen["id"], "parameters": good, "dry_run": False, "plan_token": plan_token}
        )
        done = await call(ToolName.GET_JOB, {"job_id": applied.structured_content["job"]["id"], "wait_seconds": 30})

        out.heading("Report")
        view = done.structured_content
        outputs = (view.get("terraform") or {}).get("outputs") or {}
        made = ", ".join(f"{k} = {v}" for k, v in outputs.items()) or "the planned resources"
        out.agent(f"Done: {view['outcome']}. Created {made}.")
        print(f"\nTranscript complete in {time.perf_counter() - out.started:.1f} s.")


PROMOTION_ORGS = ("dev", "prod")
PROMOTED = "Order Status Lookup"


def integration_in(org: str) -> str:
    """The id the user copies from the org's admin pages (here: the sandbox's, derived from the org name)."""
    from iac_mcp.sandbox.orgs import integrations

    return next(i.id for i in integrations(org) if i.name == "Genesys Cloud Data Actions")


async def _drive_promotion(job_duration: float) -> None:
    """A change proven in dev, promoted to prod: the prod integration id comes from the user."""
    out = Transcript()
    params = StdioServerParameters(
        command=sys.executable,
        args=[
            "-m", "iac_mcp", "serve", "--sandbox", "--sandbox-orgs", ",".join(PROMOTION_ORGS),
            "--job-duration", str(job_duration), "--log-level", "WARNING",
        ],
    )  # fmt: skip

    async def answer(context: ClientRequestContext, params: ElicitRequestParams) -> ElicitResult:
        print("❓ client │ " + params.message.replace("\n", "\n           │ "))
        if "Promote" in params.message:
            prod_id = integration_in("prod")
            out.user(f"In prod it is {prod_id}.")
            return ElicitResult(action="accept", content={"integration_id": prod_id})
        out.user("Yes, apply it.")
        return ElicitResult(action="accept", content={"confirm": True})

    async with Client(params, elicitation_callback=answer) as client:
        print(f"Connected over stdio to iac-mcp serving the sandbox orgs {', '.join(PROMOTION_ORGS)}.")

        async def call(tool: str, arguments: dict[str, Any]) -> CallToolResult:
            out.call(tool, arguments)
            result = await client.call_tool(tool, arguments)
            out.result(result, max_lines=14)
            return result

        out.heading("Prove it in dev")
        out.user(f"Add the order status lookup in dev; our data actions integration there is {integration_in('dev')}.")
        found = await call(ToolName.LIST_ACCELERATORS, {"name": PROMOTED, "org": "dev"})
        accelerator = found.structured_content["accelerators"][0]["id"]
        arguments = {"accelerator_id": accelerator, "parameters": {"integration_id": integration_in("dev")}, "org": "dev"}
        planned = await call(ToolName.SUBMIT_JOB, arguments)
        await call(ToolName.GET_JOB, {"job_id": planned.structured_content["job"]["id"], "wait_seconds": 30, "org": "dev"})
        token = planned.structured_content["plan_token"]
        applied = await call(ToolName.SUBMIT_JOB, {**arguments, "dry_run": False, "plan_token": token})
        dev_job = applied.structured_content["job"]["id"]
        await call(ToolName.GET_JOB, {"job_id": dev_job, "wait_seconds": 30, "org": "dev"})

        out.heading("Promote to prod")
        out.user("It works in dev. Bring it to prod.")
        promoted = await call(ToolName.PROMOTE_JOB, {"job_id": dev_job, "from_org": "dev", "to_org": "prod"})
        result = promoted.structured_content
        out.agent(
            f"Both plans match ({result['target']['to_add']} to add in prod); differences: "
            f"{'; '.join(result['differences']) or 'none'}. Shall I apply it in prod?"
        )
        out.user("Yes.")

        out.heading("Apply in prod, with consent")
        prod = {"accelerator_id": accelerator, "parameters": result["parameters"], "org": "prod"}
        applied = await call(ToolName.SUBMIT_JOB, {**prod, "dry_run": False, "plan_token": result["plan_token"]})
        done = await call(
            ToolName.GET_JOB, {"job_id": applied.structured_content["job"]["id"], "wait_seconds": 30, "org": "prod"}
        )
        out.agent(f"Done in prod: {done.structured_content['outcome']}.")
        print(f"\nTranscript complete in {time.perf_counter() - out.started:.1f} s.")


def run_demo(*, job_duration: float, promote: bool = False) -> int:
    anyio.run(_drive_promotion if promote else _drive, job_duration)
    return 0

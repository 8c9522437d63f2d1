"""Terraform-CLI-like text for job results.

Genesys runs each job as a remote `terraform init` then plan (dry run) or apply, and
`results` is that console output. The sandbox renders the same shapes (init preamble,
plan blocks, apply progress, boxed `Error:` diagnostics, destroy on rollback), optionally
with ANSI colour, so result parsers and masking meet realistic text.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from iac_mcp.sandbox.resources import Resource

PROVIDER = "mypurecloud/genesyscloud"
PROVIDER_VERSION = "1.62.0"
_ID_NAMESPACE = uuid.UUID("0b5e1a2c-6d1f-4f7e-9a51-2c4d8e9f0a11")


@dataclass(frozen=True)
class Palette:
    """ANSI escapes, or empty strings when colour is off."""

    bold: str = ""
    green: str = ""
    red: str = ""
    reset: str = ""


PLAIN = Palette()
COLOUR = Palette(bold="\x1b[1m", green="\x1b[32m", red="\x1b[31m", reset="\x1b[0m")


def resource_id(job_id: str, resource: Resource) -> str:
    """A stable id for a created resource, so replays produce identical text."""
    return str(uuid.uuid5(_ID_NAMESPACE, f"{job_id}/{resource.address}"))


def render_init(modules: Sequence[str], palette: Palette) -> str:
    """`terraform init` as a remote runner prints it before every plan or apply."""
    lines = [f"{palette.bold}Initializing modules...{palette.reset}"]
    lines += [f"- {module} in .terraform/modules/{module}" for module in modules]
    lines += [
        "",
        f"{palette.bold}Initializing the backend...{palette.reset}",
        "",
        f"{palette.bold}Initializing provider plugins...{palette.reset}",
        f'- Finding {PROVIDER} versions matching ">= 1.0.0"...',
        f"- Installing {PROVIDER} v{PROVIDER_VERSION}...",
        f"- Installed {PROVIDER} v{PROVIDER_VERSION} (signed by a HashiCorp partner)",
        "",
        f"{palette.green}{palette.bold}Terraform has been successfully initialized!{palette.reset}",
        "",
    ]
    return "\n".join(lines) + "\n"


def render_plan(resources: Sequence[Resource], palette: Palette, *, summary: bool = True) -> str:
    """`terraform plan` output for creating every resource, values in clear."""
    if not resources:
        return f"{palette.bold}No changes.{palette.reset} Your infrastructure matches the configuration.\n"
    lines = [
        "Terraform used the selected providers to generate the following execution",
        "plan. Resource actions are indicated with the following symbols:",
        f"  {palette.green}+{palette.reset} create",
        "",
        "Terraform will perform the following actions:",
        "",
    ]
    plus = f"{palette.green}+{palette.reset}"
    for resource in resources:
        rows = sorted([*resource.attributes, ("id", "(known after apply)")])
        width = max(len(key) for key, _ in rows)
        lines.append(f"{palette.bold}  # {resource.address}{palette.reset} will be created")
        lines.append(f'  {plus} resource "{resource.type}" "{resource.name}" {{')
        lines += [f"      {plus} {key.ljust(width)} = {value}" for key, value in rows]
        lines += ["    }", ""]
    if summary:
        lines.append(f"{palette.bold}Plan:{palette.reset} {len(resources)} to add, 0 to change, 0 to destroy.")
    return "\n".join(lines) + "\n"


def render_error(palette: Palette, summary: str, resource: Resource | None, detail: str) -> str:
    """Terraform's boxed `Error:` block."""
    lines = ["╷", f"│ {palette.red}{palette.bold}Error:{palette.reset} {summary}", "│"]
    if resource is not None:
        where = f".terraform/modules/{resource.module}/main.tf" if resource.module else "main.tf"
        lines += [
            f"│   with {resource.address},",
            f'│   on {where} line 1, in resource "{resource.type}" "{resource.name}":',
            f'│    1: resource "{resource.type}" "{resource.name}" {{',
            "│",
        ]
    lines += [f"│ {line}" for line in detail.splitlines()] + ["╵"]
    return "\n".join(lines) + "\n"


def render_apply(job_id: str, resources: Sequence[Resource], palette: Palette, *, created: int | None = None) -> str:
    """The plan, then apply progress for the first `created` resources (all by default).

    With every resource created it ends in the summary and outputs; otherwise the next
    resource is left "Creating..." for the error that follows.
    """
    count = len(resources) if created is None else created
    lines = [render_plan(resources, palette).rstrip("\n"), ""]
    for resource in resources[:count]:
        lines.append(f"{palette.bold}{resource.address}: Creating...{palette.reset}")
        lines.append(
            f"{palette.bold}{resource.address}: Creation complete after 2s [id={resource_id(job_id, resource)}]{palette.reset}"
        )
    if created is None:
        lines += [
            "",
            f"{palette.green}{palette.bold}Apply complete! Resources: {count} added, 0 changed, 0 destroyed.{palette.reset}",
            "",
        ]
        if resources:
            lines += [f"{palette.green}{palette.bold}Outputs:{palette.reset}", ""]
            lines += [f'{r.type}_{r.name}_id = "{resource_id(job_id, r)}"' for r in resources]
    elif count < len(resources):
        lines.append(f"{palette.bold}{resources[count].address}: Creating...{palette.reset}")
    return "\n".join(lines) + "\n"


def render_destroy(job_id: str, resources: Sequence[Resource], palette: Palette, *, failure: str | None = None) -> str:
    """Rollback output: destroy what was created, or fail doing so with the `failure` detail."""
    lines = []
    for resource in reversed(resources):
        lines.append(f"{palette.bold}{resource.address}: Destroying... [id={resource_id(job_id, resource)}]{palette.reset}")
        if failure is None:
            lines.append(f"{palette.bold}{resource.address}: Destruction complete after 1s{palette.reset}")
    text = "\n".join(lines) + ("\n" if lines else "")
    if failure is not None:
        victim = resources[-1] if resources else None
        return text + render_error(palette, "rollback failed: resources may remain in the organization", victim, failure)
    return text + f"\n{palette.green}{palette.bold}Destroy complete! Resources: {len(resources)} destroyed.{palette.reset}\n"

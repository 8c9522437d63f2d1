"""Terraform-CLI-like text for job results.

Genesys runs each job as a remote Terraform plan (dry run) or apply, and `results` is
that run's console output. The sandbox renders the same shapes (plan blocks, apply
progress, `Error:` boxes, destroy on rollback), optionally with ANSI colour, so result
parsers and sensitive-value masking can be tested against realistic text. Sensitive
parameters are rendered as `(sensitive value)` by construction: their values never
reach this module's output.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from iac_mcp.logic.forms import ParameterForm

_RESOURCE_TYPES = {
    "dataaction": "genesyscloud_integration_action",
    "action": "genesyscloud_integration_action",
    "integration": "genesyscloud_integration",
    "credential": "genesyscloud_integration_credential",
    "queue": "genesyscloud_routing_queue",
    "flow": "genesyscloud_flow",
    "skill": "genesyscloud_routing_skill",
    "wrapupcode": "genesyscloud_routing_wrapupcode",
}
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


@dataclass(frozen=True)
class Resource:
    """One resource a job creates, with its attributes already rendered (secrets masked)."""

    type: str
    name: str
    attributes: tuple[tuple[str, str], ...]

    @property
    def address(self) -> str:
        return f"{self.type}.{self.name}"


def _snake(text: str) -> str:
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", text)
    return re.sub(r"[^a-z0-9]+", "_", spaced.lower()).strip("_") or "resource"


def resource_type(result_type: str) -> str:
    """The provider resource type for a spec's `results.entities[].type`."""
    return _RESOURCE_TYPES.get(result_type.lower()) or f"genesyscloud_{_snake(result_type)}"


def _attribute(form: ParameterForm, name: str, value: str) -> str:
    if _is_sensitive(form, name):
        return "(sensitive value)"
    parameter = form.get(name)
    if parameter is not None and parameter.type in ("boolean", "integer", "number"):
        return value
    return json.dumps(value)


def plan_resources(form: ParameterForm, result_types: Sequence[str], values: dict[str, str], fallback: str) -> list[Resource]:
    """The resources a job on this form creates: one per result type, named after a name-like parameter."""
    label = next(
        (
            value
            for name, value in values.items()
            if value and "name" in name.lower() and not _is_sensitive(form, name)
        ),
        fallback,
    )
    attributes = tuple(sorted((name, _attribute(form, name, value)) for name, value in values.items()))
    return [Resource(type=resource_type(kind), name=_snake(label)[:60], attributes=attributes) for kind in result_types]


def _is_sensitive(form: ParameterForm, name: str) -> bool:
    """Unknown names count as sensitive: masking too much is safe, leaking is not."""
    parameter = form.get(name)
    return parameter is None or parameter.sensitive


def resource_id(job_id: str, resource: Resource) -> str:
    """A stable id for a created resource, so replays produce identical text."""
    return str(uuid.uuid5(_ID_NAMESPACE, f"{job_id}/{resource.address}"))


def render_plan(resources: Sequence[Resource], palette: Palette, *, summary: bool = True) -> str:
    """`terraform plan` output for creating every resource."""
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
    for resource in resources:
        width = max((len(key) for key, _ in resource.attributes), default=0)
        width = max(width, len("id"))
        lines.append(f"{palette.bold}  # {resource.address}{palette.reset} will be created")
        lines.append(f'  {palette.green}+{palette.reset} resource "{resource.type}" "{resource.name}" {{')
        lines.append(f"      {palette.green}+{palette.reset} {'id'.ljust(width)} = (known after apply)")
        for key, shown in resource.attributes:
            lines.append(f"      {palette.green}+{palette.reset} {key.ljust(width)} = {shown}")
        lines.append("    }")
        lines.append("")
    if summary:
        lines.append(f"{palette.bold}Plan:{palette.reset} {len(resources)} to add, 0 to change, 0 to destroy.")
    return "\n".join(lines) + "\n"


def render_error(palette: Palette, summary: str, resource: Resource | None, detail: str) -> str:
    """Terraform's boxed `Error:` block."""
    lines = ["╷", f"│ {palette.red}{palette.bold}Error:{palette.reset} {summary}", "│"]
    if resource is not None:
        lines += [
            f"│   with {resource.address},",
            f'│   on main.tf line 1, in resource "{resource.type}" "{resource.name}":',
            "│",
        ]
    lines += [f"│ {detail}", "╵"]
    return "\n".join(lines) + "\n"


def render_apply(job_id: str, resources: Sequence[Resource], palette: Palette, *, created: int | None = None) -> str:
    """Apply progress for the first `created` resources (all by default), ending in the summary when all succeeded."""
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
            lines.append(f"{palette.green}{palette.bold}Outputs:{palette.reset}")
            lines.append("")
            lines += [f'{r.type}_{r.name}_id = "{resource_id(job_id, r)}"' for r in resources]
    elif count < len(resources):
        lines.append(f"{palette.bold}{resources[count].address}: Creating...{palette.reset}")
    return "\n".join(lines) + "\n"


def render_destroy(job_id: str, resources: Sequence[Resource], palette: Palette, *, failure: str | None = None) -> str:
    """Rollback output: destroy what was created, or fail doing so with the `failure` detail."""
    lines = []
    for resource in reversed(resources):
        lines.append(
            f"{palette.bold}{resource.address}: Destroying... [id={resource_id(job_id, resource)}]{palette.reset}"
        )
        if failure is None:
            lines.append(f"{palette.bold}{resource.address}: Destruction complete after 1s{palette.reset}")
    text = "\n".join(lines) + ("\n" if lines else "")
    if failure is not None:
        victim = resources[-1] if resources else None
        return text + render_error(palette, "rollback failed: resources may remain in the organization", victim, failure)
    return text + f"\n{palette.green}{palette.bold}Destroy complete! Resources: {len(resources)} destroyed.{palette.reset}\n"

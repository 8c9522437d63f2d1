"""What a job's Terraform run would create, derived from the spec and the values.

Real CX-as-Code modules print variable values in clear in their plans (none marks a
variable sensitive), so resource attributes carry every value as given, secrets included:
masking them is the MCP server's job, and the sandbox must give it something to mask.

Two shapes:
* Genesys' data-action modules (a `module` whose results include a `dataAction` and
  that takes an `integration_id`) create exactly one
  `module.<m>.genesyscloud_integration_action.action` from four variables, as their
  `main.tf` does;
* anything else creates one resource per visible result entity, named after a
  name-like parameter, with every value as an attribute.

Result entities whose visibility is `HIDDEN` are not planned.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

from iac_mcp.sandbox.catalog import CatalogEntry
from iac_mcp.sandbox.spec import Parameter
from iac_mcp.sandbox.vocabulary import same

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
DATA_ACTION_ATTRIBUTES = (
    ("category", "action_category"),
    ("integration_id", "integration_id"),
    ("name", "action_name"),
    ("secure", "secure_data_action"),
)
"""(resource attribute, module variable) of the data-action modules' one resource."""


@dataclass(frozen=True)
class Resource:
    """One resource a job creates, with its attributes as Terraform prints them."""

    type: str
    name: str
    attributes: tuple[tuple[str, str], ...]
    module: str | None = None

    @property
    def address(self) -> str:
        local = f"{self.type}.{self.name}"
        return f"module.{self.module}.{local}" if self.module else local


def snake(text: str) -> str:
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", text)
    return re.sub(r"[^a-z0-9]+", "_", spaced.lower()).strip("_") or "resource"


def resource_type(result_type: str) -> str:
    """The provider resource type for a spec's `results.entities[].type`."""
    return _RESOURCE_TYPES.get(result_type.lower()) or f"genesyscloud_{snake(result_type)}"


def shown(parameter: Parameter | None, value: str) -> str:
    """A value as a plan prints it: numbers and booleans bare, everything else quoted."""
    if parameter is not None and parameter.type in ("boolean", "integer", "number"):
        return value
    return json.dumps(value)


def module_name(entry: CatalogEntry) -> str:
    """The module's name in the root configuration Genesys runs (best guess: the spec's name)."""
    return snake(entry.spec.name or entry.spec.id)[:60]


def is_data_action_module(entry: CatalogEntry) -> bool:
    return (
        same(entry.spec.type, "module")
        and any(same(kind, "dataAction") for kind, _ in entry.spec.results)
        and any(p.name == "integration_id" for p in entry.form)
    )


def plan_resources(entry: CatalogEntry, values: Mapping[str, str]) -> list[Resource]:
    """The resources a job with these (valid) values creates, in creation order."""
    form = {p.name: p for p in entry.form}
    if is_data_action_module(entry):
        attributes = tuple((attr, shown(form.get(var), values[var])) for attr, var in DATA_ACTION_ATTRIBUTES if var in values)
        return [Resource("genesyscloud_integration_action", "action", attributes, module=module_name(entry))]
    label = next(
        (v for k, v in values.items() if v and "name" in k.lower() and not (k in form and form[k].sensitive)),
        entry.spec.name or "accelerator",
    )  # an address is static configuration in real Terraform: never derived from a secret
    attributes = tuple(sorted((name, shown(form.get(name), value)) for name, value in values.items()))
    kinds = [kind for kind, visibility in entry.spec.results if kind and not same(visibility, "hidden")]
    return [Resource(resource_type(kind), snake(label)[:60], attributes) for kind in kinds]

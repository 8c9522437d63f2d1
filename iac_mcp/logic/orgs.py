"""Orgs in results, and what promoting a change from one org to another must ask for.

Two environments of one server look identical in a client's permission prompt, so every
result names the org it touched. A change proven in dev carries values that only mean
something there (object ids): promotion lists them and asks for the target org's.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from pydantic import BaseModel, Field

from iac_mcp.logic.terraform import TerraformSummary

GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


class OrgView(BaseModel):
    """The org a result is from: the profile's name, the operator's label, the API base."""

    name: str
    label: str
    api_base: str


def org_named(org: OrgView) -> str:
    """The org as people tell it apart: `dev (Development (Dublin), https://api.mypurecloud.ie)`."""
    return f"{org.name} ({org.label}, {org.api_base})"


def org_line(org: OrgView) -> str:
    return f"Org: {org_named(org)}"


def org_specific(parameters: Mapping[str, str]) -> list[str]:
    """Parameters whose values name objects of one org: GUID-shaped values, names ending in `_id`.

    Carried to another org they would point at nothing, or at the wrong thing.
    """
    return [name for name, value in parameters.items() if GUID.fullmatch(value.strip()) or name.lower().endswith("_id")]


class PlanSide(BaseModel):
    """One org's plan in a comparison."""

    org: str
    job_id: str
    status: str | None = None
    to_add: int | None = None
    to_change: int | None = None
    to_destroy: int | None = None
    resources: list[str] = Field(description="`address (action)` of each change.")


def plan_side(org: str, job_id: str, status: str | None, summary: TerraformSummary) -> PlanSide:
    return PlanSide(
        org=org,
        job_id=job_id,
        status=status,
        to_add=summary.to_add,
        to_change=summary.to_change,
        to_destroy=summary.to_destroy,
        resources=[f"{r.address} ({r.action})" for r in summary.resources],
    )


def plan_differences(source: PlanSide, target: PlanSide) -> list[str]:
    """What differs between two plans of one change, in plain words (empty: the same)."""
    differences = [
        f"{what}: {getattr(source, field)} in {source.org}, {getattr(target, field)} in {target.org}"
        for field, what in (("to_add", "to add"), ("to_change", "to change"), ("to_destroy", "to destroy"))
        if getattr(source, field) != getattr(target, field)
    ]
    only_source = sorted(set(source.resources) - set(target.resources))
    only_target = sorted(set(target.resources) - set(source.resources))
    if only_source:
        differences.append(f"only in {source.org}: " + ", ".join(only_source[:20]))
    if only_target:
        differences.append(f"only in {target.org}: " + ", ".join(only_target[:20]))
    return differences

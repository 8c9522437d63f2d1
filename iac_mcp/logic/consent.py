"""The question put to the user before a real run, built so that it cannot be spoofed.

Every value and name is untrusted (the agent chose the parameters, a third party wrote the
catalogue entry): each is stripped of escapes and invisible characters, quoted, put on a
line of its own and capped, so no value can fake a line such as "Plan: 0 to add". The org
and the plan's summary come first, where a person reads before they skim.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from iac_mcp.logic.text import capped, plain

VALUE_LIMIT = 200
QUESTION_LIMIT = 4000
RESOURCES_SHOWN = 20


@dataclass(frozen=True)
class PlanFacts:
    job_id: str
    to_add: int
    to_change: int
    to_destroy: int
    resources: Sequence[tuple[str, str]]
    """(action, address) of each planned resource."""


def quoted(text: str, limit: int = VALUE_LIMIT) -> str:
    """One line: the text cleaned, cut and JSON-quoted (newlines show as \\n)."""
    return json.dumps(capped(plain(text), limit), ensure_ascii=False)


def consent_question(
    *, org: str, accelerator_name: str, accelerator_id: str, parameters: Mapping[str, str], plan: PlanFacts
) -> str:
    """The whole question, at most QUESTION_LIMIT characters; `parameters` already masked."""
    head = [
        f"Apply to the Genesys Cloud org at {quoted(org)}? This makes real changes.",
        f"Plan {quoted(plan.job_id)}: {plan.to_add} to add, {plan.to_change} to change, {plan.to_destroy} to destroy.",
        f"Accelerator: {quoted(accelerator_name)} (id {quoted(accelerator_id)})",
    ]
    body = [f"  {action}: {quoted(address)}" for action, address in plan.resources[:RESOURCES_SHOWN]]
    if len(plan.resources) > RESOURCES_SHOWN:
        body.append(f"  … and {len(plan.resources) - RESOURCES_SHOWN} more resources")
    body.append(f"Parameters ({len(parameters)}):")
    body.extend(f"  {quoted(name, 80)} = {quoted(value)}" for name, value in parameters.items())
    lines = head + body
    text = "\n".join(lines)
    if len(text) <= QUESTION_LIMIT:
        return text
    kept: list[str] = []
    budget = QUESTION_LIMIT - 60
    for line in lines:
        if sum(len(k) + 1 for k in kept) + len(line) > budget:
            break
        kept.append(line)
    return "\n".join(kept) + f"\n… {len(lines) - len(kept)} more lines left out: read the plan with the agent."

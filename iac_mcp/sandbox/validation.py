"""Job parameters checked the way the platform would, independently of the MCP client.

Deliberately strict and literal: enum values match exactly, numbers must parse, booleans
are `true`/`false`. If the client ever grows more lenient than this, the sandbox says no,
so the tests notice.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from iac_mcp.sandbox.spec import Parameter


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a parameter: its name, an error code and a message without its value."""

    name: str
    code: str
    message: str


def _number(value: str, integer: bool) -> bool:
    try:
        number = float(value.strip())
    except ValueError:
        return False
    return math.isfinite(number) and (not integer or number.is_integer())


def _wrong_type(parameter: Parameter, value: str) -> bool:
    if parameter.type == "boolean":
        return value not in ("true", "false")
    if parameter.type in ("integer", "number"):
        return not _number(value, parameter.type == "integer")
    return False


def check(parameters: Sequence[Parameter], given: Mapping[str, str]) -> tuple[dict[str, str], list[Problem]]:
    """The values with defaults applied, and every problem; values are never quoted back."""
    known = {p.name: p for p in parameters}
    problems = [
        Problem(name, "unknown", f"{name!r} is not a parameter of this accelerator.") for name in given if name not in known
    ]
    values: dict[str, str] = {}
    for p in parameters:
        value = given.get(p.name)
        if value is None or (p.required and value == ""):
            if p.default is not None:
                values[p.name] = p.default
            elif p.required:
                problems.append(Problem(p.name, "missing", f"{p.name!r} is required."))
            continue
        if _wrong_type(p, value):
            problems.append(Problem(p.name, "wrong_type", f"{p.name!r} must be a {p.type}."))
        elif p.enum and value not in p.enum:
            problems.append(Problem(p.name, "not_allowed", f"{p.name!r} must be one of {', '.join(p.enum)}."))
        else:
            values[p.name] = value
    return values, problems

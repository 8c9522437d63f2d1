"""Terraform CLI output (a job's `results`) as a structured summary.

A job's `results` is raw `terraform plan` / `apply` / `destroy` text, often coloured and
long. Agents need the counts, the resources touched, the outputs and the errors, not the
text. Parsing is best effort and total: any string gives a summary, never an exception,
because the text comes from a remote system we do not control.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, Field

OutputKind = Literal["plan", "apply", "destroy", "unknown"]
Action = Literal["create", "update", "replace", "destroy", "read"]

_ANSI = re.compile(
    r"\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC (window titles, hyperlinks), BEL or ST ended
    r"|\x1b\[[0-?]*[ -/]*[@-~]"  # CSI: colours, bold, reset, cursor moves
    r"|\x1b[@-Z\\-_]"  # other two-character escapes
)


class ResourceChange(BaseModel):
    """One resource a plan would change or an apply changed."""

    address: str = Field(description="Full address, e.g. module.x.genesyscloud_flow.flow.")
    action: Action
    id: str | None = Field(default=None, description="The Genesys id, when the apply reports one.")


class TerraformDiagnostic(BaseModel):
    """One diagnostic block: the summary line and what Terraform printed under it."""

    summary: str
    detail: str = ""
    address: str | None = Field(default=None, description="From the `with <address>,` line.")


class TerraformError(TerraformDiagnostic):
    """An `Error:` block."""


class TerraformWarning(TerraformDiagnostic):
    """A `Warning:` block."""


class TerraformSummary(BaseModel):
    """What a Terraform run planned or did, read from its CLI output."""

    kind: OutputKind = "unknown"
    to_add: int = Field(default=0, description="Planned to add, or added by an apply.")
    to_change: int = 0
    to_destroy: int = 0
    resources: list[ResourceChange] = Field(default_factory=list)
    outputs: dict[str, str] = Field(default_factory=dict, description="Output values as text.")
    errors: list[TerraformError] = Field(default_factory=list)
    warnings: list[TerraformWarning] = Field(default_factory=list)
    complete: bool = Field(default=False, description="A final summary line was found.")


def strip_ansi(text: str) -> str:
    """The text without terminal escape sequences, so patterns see what a human reads."""
    return _ANSI.sub("", text)


# --- Line patterns -------------------------------------------------------------------

_COUNT = r"(?<!\d)(\d{1,9})"  # bounded: int() of a huge digit run would raise
_PLAN_SUMMARY = re.compile(r"^\s*Plan: .*\bto (?:add|change|destroy)\b")
_NO_CHANGES = re.compile(r"^\s*No changes\.")
_APPLY_SUMMARY = re.compile(r"^\s*Apply complete! Resources: ")
_DESTROY_SUMMARY = re.compile(r"^\s*Destroy complete! Resources: ")

_PLAN_VERBS: dict[str, Action] = {
    "will be created": "create",
    "will be updated in-place": "update",
    "must be replaced": "replace",
    "will be replaced, as requested": "replace",
    "will be destroyed": "destroy",
    "will be read during apply": "read",
}
_PLAN_HEADER = re.compile(
    r"^\s*# (?P<address>\S.*?)(?: \(deposed object \w+\))?(?: is tainted, so)? (?P<verb>"
    + "|".join(re.escape(verb) for verb in _PLAN_VERBS)
    + r")\s*$"
)

_APPLY_EVENTS: dict[str, Action] = {
    "Creation": "create",
    "Modifications": "update",
    "Destruction": "destroy",
    "Read": "read",
}
_APPLY_DONE = re.compile(
    r"^(?P<address>\S.*?): (?P<event>" + "|".join(_APPLY_EVENTS) + r") complete after \S+(?: \[id=(?P<id>[^\]]*)\])?\s*$"
)
_APPLY_PROGRESS = re.compile(r"^\S.*?: (?:Creating|Modifying|Destroying|Reading|Still \w+)\.\.\.|" + _APPLY_DONE.pattern)
_ACTIONS_HEADER = re.compile(r"^\s*Terraform will perform the following actions:")

_DIAGNOSTIC = re.compile(r"^(?P<severity>Error|Warning): ?(?P<summary>.*)$")
_WITH = re.compile(r"^\s*with (?P<address>\S.*?),\s*$")
_OUTPUT = re.compile(r"^(?P<name>[A-Za-z_][\w-]*) = (?P<value>.*)$")


def _count(line: str, word: str) -> int:
    match = re.search(_COUNT + r" (?:to )?" + word, line)
    return int(match.group(1)) if match else 0


# --- Parsing -------------------------------------------------------------------------


def parse_terraform_output(text: str) -> TerraformSummary:
    """Summarise plan, apply or destroy output; best effort, never raises.

    The last summary line decides `kind` and the counts, since `terraform apply` prints its
    plan before applying it. An apply that went past its plan without a final summary (it
    failed) is an incomplete apply with zero counts: the plan's counts are not what happened.
    Without any summary, `kind` is guessed from the lines seen and `complete` stays false.
    For apply and destroy, `resources` lists what was done after the plan; a resource
    destroyed and created again is reported as replaced.
    """
    lines = strip_ansi(text).splitlines()
    summary = TerraformSummary()
    planned: list[ResourceChange] = []
    applied: dict[str, ResourceChange] = {}
    saw_plan = saw_apply = False
    for line in lines:
        if _PLAN_SUMMARY.match(line):
            _set_summary(summary, "plan", _count(line, "add"), _count(line, "change"), _count(line, "destroy"))
            applied, saw_apply = {}, False
        elif _NO_CHANGES.match(line):
            _set_summary(summary, "plan", 0, 0, 0)
            applied, saw_apply = {}, False
        elif _APPLY_SUMMARY.match(line):
            _set_summary(summary, "apply", _count(line, "added"), _count(line, "changed"), _count(line, "destroyed"))
        elif _DESTROY_SUMMARY.match(line):
            _set_summary(summary, "destroy", 0, 0, _count(line, "destroyed"))
        elif header := _PLAN_HEADER.match(line):
            saw_plan = True
            planned.append(ResourceChange(address=header["address"], action=_PLAN_VERBS[header["verb"]]))
        elif _ACTIONS_HEADER.match(line):
            saw_plan = True
        elif _APPLY_PROGRESS.match(line):
            saw_apply = True
            if done := _APPLY_DONE.match(line):
                _record_applied(applied, done["address"], _APPLY_EVENTS[done["event"]], done["id"])
    if summary.kind == "plan" and saw_apply:
        summary = TerraformSummary()
    if not summary.complete:
        summary.kind = "apply" if saw_apply else "plan" if saw_plan else "unknown"
    summary.resources = planned if summary.kind == "plan" else list(applied.values())
    summary.outputs = _outputs(lines)
    for diagnostic in _diagnostics(lines):
        if isinstance(diagnostic, TerraformError):
            summary.errors.append(diagnostic)
        else:
            summary.warnings.append(diagnostic)
    return summary


def _set_summary(summary: TerraformSummary, kind: OutputKind, add: int, change: int, destroy: int) -> None:
    summary.kind, summary.complete = kind, True
    summary.to_add, summary.to_change, summary.to_destroy = add, change, destroy


def _record_applied(applied: dict[str, ResourceChange], address: str, action: Action, id_: str | None) -> None:
    previous = applied.get(address)
    if previous is not None and {previous.action, action} == {"create", "destroy"}:
        applied[address] = ResourceChange(address=address, action="replace", id=id_ or previous.id)
    else:
        applied[address] = ResourceChange(address=address, action=action, id=id_)


def _outputs(lines: list[str]) -> dict[str, str]:
    """The `name = value` lines of the last `Outputs:` block; multi-line values kept whole."""
    starts = [i for i, line in enumerate(lines) if line.strip() == "Outputs:"]
    if not starts:
        return {}
    outputs: dict[str, str] = {}
    current: str | None = None
    for line in lines[starts[-1] + 1 :]:
        if match := _OUTPUT.match(line):
            current = match["name"]
            outputs[current] = match["value"].rstrip()
        elif current is not None and line.strip() and (line[0].isspace() or line.strip() in ("]", "}", ")", "EOT")):
            outputs[current] += "\n" + line.rstrip()
        elif current is not None or line.strip():
            break
    return outputs


def _diagnostics(lines: list[str]) -> list[TerraformError | TerraformWarning]:
    """Every `Error:` / `Warning:` block, boxed (`╷ │ ╵`, Terraform ≥ 0.15) or plain."""
    found: list[TerraformError | TerraformWarning] = []
    index = 0
    while index < len(lines):
        boxed = lines[index].startswith("│")
        header = _DIAGNOSTIC.match(_unbox(lines[index]))
        index += 1
        if header is None:
            continue
        body: list[str] = []
        while index < len(lines) and not _ends_block(lines[index], boxed):
            body.append(_unbox(lines[index]).rstrip())
            index += 1
        address = next((m["address"] for m in map(_WITH.match, body) if m), None)
        model = TerraformError if header["severity"] == "Error" else TerraformWarning
        found.append(model(summary=header["summary"].strip(), detail=_trim(body), address=address))
    return found


def _unbox(line: str) -> str:
    return line[1:].removeprefix(" ") if line.startswith("│") else line


def _ends_block(line: str, boxed: bool) -> bool:
    if boxed:
        return not line.startswith("│")
    return bool(
        _DIAGNOSTIC.match(line)
        or line.startswith(("╷", "│"))
        or _PLAN_SUMMARY.match(line)
        or _APPLY_SUMMARY.match(line)
        or _DESTROY_SUMMARY.match(line)
        or _APPLY_PROGRESS.match(line)
    )


def _trim(body: list[str]) -> str:
    """The block's lines without the blank lines around them, common indentation removed."""
    while body and not body[0].strip():
        body = body[1:]
    while body and not body[-1].strip():
        body = body[:-1]
    indent = min((len(line) - len(line.lstrip()) for line in body if line.strip()), default=0)
    return "\n".join(line[indent:] for line in body)

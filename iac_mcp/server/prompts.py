"""MCP prompts from the Markdown templates in the top-level `prompts/` folder.

Prompts are prose for Genesys Cloud admins, so they live as Markdown files that are
easy to review and edit, not as Python strings. Each file starts with a small front
matter between `---` lines, a strict subset of YAML (no YAML library needed):

    ---
    name: troubleshoot-job
    title: Troubleshoot a job
    description: One line saying what the prompt is for.
    arguments:
      - name: job_id
        description: The job to look into.
        required: true
    ---

`name` and `description` are required; `title` and `arguments` are optional; every value
is plain text to the end of its line (no quoting). `required` is `true` or `false`
(default `false`). The body after the front matter is the user message, where:

* `{argument}` is replaced by the argument's value (`{` followed by a space is plain text);
* a line starting with `{?argument}` appears only when that optional argument is given,
  and one starting with `{!argument}` only when it is not (the marker and one following
  space are removed);
* a placeholder of an optional argument may only sit on a `{?argument}` line, so nothing
  ever renders half-empty.

Every rule is checked at start-up: a malformed file stops the server with a message
naming the file and the problem, instead of serving a broken prompt later.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable
from typing import Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.prompts.base import Message, Prompt, PromptArgument, UserMessage
from mcp.shared.exceptions import MCPError
from mcp.types import INVALID_PARAMS, InputRequiredResult

PROMPTS_DIR: Traversable = files("iac_mcp").joinpath("prompts")
"""The top-level `prompts/` folder, reached through the `iac_mcp/prompts` link (a real
folder inside an installed wheel)."""

_TOP_KEYS = {"name", "title", "description", "arguments"}
_ARGUMENT_KEYS = {"name", "description", "required"}
_PROMPT_NAME = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_ARGUMENT_NAME = re.compile(r"[a-z_][a-z0-9_]*")
_KEY_VALUE = re.compile(r"(?P<key>[a-z_]+):(?:[ \t]+(?P<value>.*))?")
_PLACEHOLDER = re.compile(r"\{(?P<mark>[?!]?)(?P<name>[A-Za-z_][A-Za-z0-9_]*)\}")
_BLANK_RUNS = re.compile(r"\n(?:[ \t]*\n){2,}")


class PromptFileError(ValueError):
    """A prompt file that cannot be served. The message names the file."""


@dataclass(frozen=True)
class PromptTemplate:
    """One parsed prompt file, ready to render."""

    name: str
    title: str | None
    description: str
    arguments: tuple[PromptArgument, ...]
    body: str

    def render(self, values: dict[str, str]) -> str:
        """The body with placeholders filled and conditional lines kept or dropped.

        Values are stripped; an empty optional value counts as absent. Substitution is a
        single pass, so braces inside a value are never expanded again. A dropped line
        leaves no double gap: runs of blank lines shrink to one.
        """
        given = {k: v.strip() for k, v in values.items() if v.strip()}
        lines = []
        for raw in self.body.splitlines():
            marker = _PLACEHOLDER.match(raw)
            line = raw
            if marker and marker["mark"]:
                if (marker["name"] in given) != (marker["mark"] == "?"):
                    continue
                line = raw[marker.end() :].removeprefix(" ")
            lines.append(_PLACEHOLDER.sub(lambda m: given[m["name"]], line))
        return _BLANK_RUNS.sub("\n\n", "\n".join(lines)).strip() + "\n"


def _front_matter(text: str) -> tuple[list[tuple[int, str]], str]:
    """The numbered front-matter lines and the body."""
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        raise ValueError("line 1: the file must start with a '---' front matter line")
    for index, line in enumerate(lines[1:], start=1):
        if line.strip() == "---":
            return [(n + 1, lines[n]) for n in range(1, index)], "\n".join(lines[index + 1 :])
    raise ValueError("the front matter has no closing '---' line")


def _key_value(number: int, text: str) -> tuple[str, str]:
    match = _KEY_VALUE.fullmatch(text.rstrip())
    if not match:
        raise ValueError(f"line {number}: expected 'key: value', got {text.strip()!r}")
    return match["key"], (match["value"] or "").strip()


def _parse_front_matter(lines: list[tuple[int, str]]) -> tuple[dict[str, str], list[dict[str, str]]]:
    """Top-level keys, and the `arguments` list as one dict per item."""
    fields: dict[str, str] = {}
    arguments: list[dict[str, str]] = []
    in_arguments = False
    for number, line in lines:
        if not line.strip():
            continue
        if not line[0].isspace():
            key, value = _key_value(number, line)
            if key not in _TOP_KEYS:
                raise ValueError(f"line {number}: unknown key {key!r} (allowed: {', '.join(sorted(_TOP_KEYS))})")
            if key in fields:
                raise ValueError(f"line {number}: {key!r} is given twice")
            fields[key] = value
            in_arguments = key == "arguments"
            if in_arguments and value:
                raise ValueError(f"line {number}: 'arguments:' takes a list of '- name: ...' items on the next lines")
            continue
        if not in_arguments:
            raise ValueError(f"line {number}: unexpected indentation")
        stripped = line.strip()
        if stripped.startswith("- "):
            arguments.append({})
            stripped = stripped[2:]
        elif not arguments:
            raise ValueError(f"line {number}: an argument must start with '- '")
        key, value = _key_value(number, stripped)
        if key not in _ARGUMENT_KEYS:
            raise ValueError(f"line {number}: unknown argument key {key!r} (allowed: {', '.join(sorted(_ARGUMENT_KEYS))})")
        if key in arguments[-1]:
            raise ValueError(f"line {number}: argument key {key!r} is given twice")
        arguments[-1][key] = value
    return fields, arguments


def _argument(item: dict[str, str]) -> PromptArgument:
    name = item.get("name", "")
    if not _ARGUMENT_NAME.fullmatch(name):
        raise ValueError(f"argument name {name!r} must be lower-case letters, digits and '_'")
    if not item.get("description"):
        raise ValueError(f"argument {name!r} has no description")
    required = item.get("required", "false")
    if required not in ("true", "false"):
        raise ValueError(f"argument {name!r}: 'required' must be true or false, not {required!r}")
    return PromptArgument(name=name, description=item["description"], required=required == "true")


def _check_body(body: str, arguments: Iterable[PromptArgument]) -> None:
    """Every placeholder names a declared argument and cannot render empty."""
    if not body.strip():
        raise ValueError("the body after the front matter is empty")
    required = {a.name: a.required for a in arguments}
    for number, line in enumerate(body.splitlines(), start=1):
        guard = None
        for match in _PLACEHOLDER.finditer(line):
            name, mark = match["name"], match["mark"]
            where = f"body line {number}"
            if name not in required:
                raise ValueError(f"{where}: {{{mark}{name}}} names no declared argument")
            if mark and match.start() != 0:
                raise ValueError(f"{where}: {{{mark}{name}}} must start the line")
            if mark and required[name]:
                raise ValueError(f"{where}: {{{mark}{name}}} guards a required argument, which is always given")
            if mark == "?":
                guard = name
            if not mark and not required[name] and guard != name:
                raise ValueError(f"{where}: optional {{{name}}} must be on a line starting with {{?{name}}}")


def parse_prompt(text: str) -> PromptTemplate:
    """A prompt template from a file's text; ValueError says what is wrong and where."""
    lines, body = _front_matter(text)
    fields, items = _parse_front_matter(lines)
    for key in ("name", "description"):
        if not fields.get(key):
            raise ValueError(f"the front matter has no {key!r}")
    if not _PROMPT_NAME.fullmatch(fields["name"]):
        raise ValueError(f"name {fields['name']!r} must be lower-case words joined by '-'")
    if "arguments" in fields and not items:
        raise ValueError("'arguments:' is given but lists no argument")
    arguments = tuple(_argument(item) for item in items)
    names = [a.name for a in arguments]
    if duplicates := sorted({n for n in names if names.count(n) > 1}):
        raise ValueError(f"argument {duplicates[0]!r} is declared twice")
    _check_body(body, arguments)
    return PromptTemplate(fields["name"], fields.get("title") or None, fields["description"], arguments, body)


def load_prompts(directory: Traversable = PROMPTS_DIR) -> list[PromptTemplate]:
    """Every `*.md` template of `directory`, in file-name order; PromptFileError names a bad file."""
    if not directory.is_dir():
        raise PromptFileError(f"prompt folder {directory} does not exist")
    templates: dict[str, tuple[str, PromptTemplate]] = {}
    for file in sorted((f for f in directory.iterdir() if f.name.endswith(".md")), key=lambda f: f.name):
        try:
            template = parse_prompt(file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as error:
            raise PromptFileError(f"prompt file {file}: {error}") from error
        if template.name in templates:
            raise PromptFileError(f"prompt file {file}: name {template.name!r} is already used by {templates[template.name][0]}")
        templates[template.name] = (str(file), template)
    if not templates:
        raise PromptFileError(f"prompt folder {directory} has no *.md prompt files")
    return [template for _, template in templates.values()]


class TemplatePrompt(Prompt):
    """A prompt served from a template, refusing bad arguments as invalid params.

    mcp 2.3 reports a missing required argument as a bare ValueError, which the
    2026-07-28 era turns into an opaque internal error; checking first gives the
    caller a -32602 that says which argument is wrong, in both eras.
    """

    async def render(self, arguments: dict[str, Any] | None, context: Context[Any, Any]) -> list[Message] | InputRequiredResult:
        values = arguments or {}
        declared = [a.name for a in self.arguments or ()]
        if unknown := sorted(set(values) - set(declared)):
            raise _invalid(f"Prompt {self.name} has no argument {unknown[0]!r}; it takes: {', '.join(declared) or 'none'}.")
        if blank := [a.name for a in self.arguments or () if a.required and not str(values.get(a.name, "")).strip()]:
            raise _invalid(f"Prompt {self.name} needs a value for {blank[0]!r}.")
        return await super().render(values, context)


def _invalid(message: str) -> MCPError:
    return MCPError(code=INVALID_PARAMS, message=message)


def _as_prompt(template: PromptTemplate) -> Prompt:
    async def render(**values: str) -> list[UserMessage]:
        return [UserMessage(template.render(values))]

    return TemplatePrompt(
        name=template.name,
        title=template.title,
        description=template.description,
        arguments=list(template.arguments),
        fn=render,
    )


def register(server: MCPServer, directory: Traversable = PROMPTS_DIR) -> None:
    """Serve every prompt file of `directory`; a malformed one fails here, at start-up."""
    for template in load_prompts(directory):
        server.add_prompt(_as_prompt(template))

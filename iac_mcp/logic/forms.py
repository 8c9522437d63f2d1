"""Accelerator parameter forms: from a wire spec to one flat, typed list of parameters.

A spec spreads its parameters over presentation pages, each a list of single-key maps
with string-typed metadata. Agents need one list, real types, and a JSON Schema of the
`parameters` object; the job endpoint needs `[{name, value}]` with string values. This
module converts between the three and validates values, reporting every problem at once.
It is pure: no I/O, so the MCP tools and the sandbox share it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, Field

from iac_mcp.genesys.models import AcceleratorSpecification, JobParameter, scalar_text

ParameterType = Literal["string", "boolean", "integer", "number"]
_KNOWN_TYPES: tuple[ParameterType, ...] = ("string", "boolean", "integer", "number")


class Parameter(BaseModel):
    """One parameter of an accelerator, as an agent needs to fill it in."""

    name: str = Field(description="The key to use in submit-job's `parameters` object.")
    display_name: str | None = Field(default=None, description="The label Genesys shows for it.")
    description: str | None = None
    type: ParameterType = "string"
    required: bool = False
    default: str | None = Field(default=None, description="Applied when the parameter is omitted.")
    allowed_values: list[str] | None = None
    sensitive: bool = Field(default=False, description="A secret: its value is never echoed back.")
    help_url: str | None = None
    page: str | None = Field(default=None, description="The form page it belongs to.")


class ParameterForm(BaseModel):
    """Every parameter of one accelerator, in form order."""

    accelerator_id: str
    parameters: list[Parameter]

    def get(self, name: str) -> Parameter | None:
        return next((p for p in self.parameters if p.name == name), None)

    @property
    def sensitive_names(self) -> frozenset[str]:
        return frozenset(p.name for p in self.parameters if p.sensitive)


def _parameter_type(raw: str | None) -> ParameterType:
    lowered = (raw or "string").strip().lower()
    return lowered if lowered in _KNOWN_TYPES else "string"


def _merged(first: Parameter, later: Parameter) -> Parameter:
    """One parameter from two pages' definitions: required if either says so, gaps filled."""
    gaps = {key: value for key, value in later.model_dump().items() if getattr(first, key) is None}
    return first.model_copy(
        update={**gaps, "required": first.required or later.required, "sensitive": first.sensitive or later.sensitive}
    )


def form_from_spec(spec: AcceleratorSpecification) -> ParameterForm:
    """Flatten every presentation page of a spec into one parameter list.

    Lenient where the SDKs are: a property defined on two pages is merged (required if
    either page requires it), and a required name without a property, like the names of
    an older spec's plain `fields`, becomes a required string parameter, since the form
    asks for it.
    """
    parameters: dict[str, Parameter] = {}

    def add(parameter: Parameter) -> None:
        known = parameters.get(parameter.name)
        parameters[parameter.name] = parameter if known is None else _merged(known, parameter)

    for page in spec.presentation:
        title = page.title or (page.schema_.title if page.schema_ else None)
        if page.schema_ is not None:
            required = set(page.schema_.required)
            for name, prop in page.schema_.named_properties():
                add(
                    Parameter(
                        name=name,
                        display_name=prop.displayname,
                        description=prop.description,
                        type=_parameter_type(prop.type),
                        required=name in required,
                        default=prop.default,
                        allowed_values=prop.enum or None,
                        sensitive=prop.is_sensitive,
                        help_url=prop.help,
                        page=title,
                    )
                )
            defined = {name for name, _ in page.schema_.named_properties()}
            for name in page.schema_.required:
                if name not in defined:
                    add(Parameter(name=name, required=True, page=title))
        for name in page.fields or ():
            add(Parameter(name=name, required=True, page=page.title))
    return ParameterForm(accelerator_id=spec.id, parameters=list(parameters.values()))


# --- JSON Schema ---------------------------------------------------------------------


def typed_value(parameter: Parameter, text: str) -> Any:
    """A wire string as the JSON value of the parameter's type, or the text if it does not parse."""
    try:
        return _coerce(parameter.type, text)
    except ValueError:
        return text


def json_schema(form: ParameterForm) -> dict[str, Any]:
    """The JSON Schema of the `parameters` object that submit-job accepts for this form, and the
    one place an agent reads each parameter from: its type, allowed values, default and whether
    it is required, with its label (`title`, where it says more than the name), description,
    help link (`x-help-url`) and, on a form of several pages, its page (`x-page`). A sensitive
    parameter is `writeOnly` and its default is never published.
    """
    paged = len({p.page for p in form.parameters}) > 1
    properties: dict[str, Any] = {}
    for p in form.parameters:
        prop: dict[str, Any] = {"type": p.type}
        if p.display_name and p.display_name != p.name.replace("_", " "):
            prop["title"] = p.display_name
        if p.description:
            prop["description"] = p.description
        if p.allowed_values:
            prop["enum"] = [typed_value(p, v) for v in p.allowed_values]
        if p.sensitive:
            prop["writeOnly"] = True
        elif p.default is not None:
            prop["default"] = typed_value(p, p.default)
        if p.help_url:
            prop["x-help-url"] = p.help_url
        if paged and p.page:
            prop["x-page"] = p.page
        properties[p.name] = prop
    return {
        "type": "object",
        "properties": properties,
        "required": [p.name for p in form.parameters if p.required and p.default is None],
        "additionalProperties": False,
    }


# --- Validation ----------------------------------------------------------------------


ProblemKind = Literal["unknown", "missing", "wrong_type", "not_allowed"]


class Problem(BaseModel):
    """One thing wrong with submitted parameters."""

    parameter: str
    kind: ProblemKind
    message: str
    expected: str


def expected_form(parameter: Parameter) -> str:
    """A short human description of what a parameter accepts."""
    if parameter.allowed_values:
        return "one of " + ", ".join(repr(v) for v in parameter.allowed_values)
    return {
        "string": "a string",
        "boolean": "true or false",
        "integer": "a whole number",
        "number": "a number",
    }[parameter.type]


def _coerce(kind: ParameterType, value: Any) -> Any:
    """The value as a JSON value of `kind`; raises ValueError when it is not one."""
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        raise ValueError
    if kind in ("integer", "number"):
        if isinstance(value, bool):
            raise ValueError
        if isinstance(value, str):
            text = value.strip()
            try:
                value = int(text)
            except ValueError:
                value = float(text)
        if isinstance(value, float):
            if not math.isfinite(value):
                raise ValueError
            if kind == "integer":
                if not value.is_integer():
                    raise ValueError
                return int(value)
            return value
        if isinstance(value, int):
            return value
        raise ValueError
    if isinstance(value, (str, bool, int, float)) and not (isinstance(value, float) and not math.isfinite(value)):
        return value
    raise ValueError


def _wire_text(value: Any) -> str:
    text = scalar_text(value)
    assert text is not None
    return text


def validate_parameters(form: ParameterForm, values: Mapping[str, Any]) -> tuple[dict[str, str], list[Problem]]:
    """Check values against the form; return the wire values (defaults applied) and every problem.

    Values may be JSON scalars or their string forms. Omitted (or null) optional
    parameters take their default; an empty string counts as missing for a required one.
    """
    problems: list[Problem] = []
    wire: dict[str, str] = {}
    for name in values:
        if form.get(name) is None:
            known = ", ".join(p.name for p in form.parameters) or "none"
            problems.append(
                Problem(
                    parameter=name,
                    kind="unknown",
                    message=f"{name!r} is not a parameter of this accelerator (known: {known}).",
                    expected="remove it",
                )
            )
    for p in form.parameters:
        value = values.get(p.name)
        if value is None or (p.required and value == ""):
            if p.default is not None:
                wire[p.name] = p.default
            elif p.required:
                problems.append(
                    Problem(
                        parameter=p.name,
                        kind="missing",
                        message=f"{p.name!r} is required.",
                        expected=expected_form(p),
                    )
                )
            continue
        try:
            text = _wire_text(_coerce(p.type, value))
        except ValueError:
            shown = "a value" if p.sensitive else f"{type(value).__name__} {value!r}"[:80]
            problems.append(
                Problem(
                    parameter=p.name,
                    kind="wrong_type",
                    message=f"{p.name!r} must be {expected_form(p)}, got {shown}.",
                    expected=expected_form(p),
                )
            )
            continue
        if p.allowed_values and text not in p.allowed_values:
            shown = "the value given" if p.sensitive else repr(text)[:80]
            problems.append(
                Problem(
                    parameter=p.name,
                    kind="not_allowed",
                    message=f"{p.name!r} must be {expected_form(p)}, not {shown}.",
                    expected=expected_form(p),
                )
            )
            continue
        wire[p.name] = text
    return wire, problems


def wire_parameters(values: Mapping[str, str]) -> list[JobParameter]:
    """Validated wire values as the job body's `[{name, value}]` list."""
    return [JobParameter(name=name, value=value) for name, value in values.items()]

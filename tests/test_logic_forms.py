"""Parameter forms: flattening specs, JSON Schema, validation with every problem at once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from iac_mcp.genesys.models import AcceleratorSpecification
from iac_mcp.logic.accelerators import describe, render_description, shown
from iac_mcp.logic.forms import form_from_spec, json_schema, validate_parameters, wire_parameters
from iac_mcp.logic.redaction import MASK


def _spec(pages: list[dict[str, Any]], **extra: Any) -> AcceleratorSpecification:
    return AcceleratorSpecification.model_validate({"id": "acc-1", "name": "Test", "presentation": pages, **extra})


TWO_PAGES = _spec(
    [
        {
            "title": "Queue",
            "schema": {
                "properties": [
                    {"queue_name": {"type": "string", "displayname": "queue name", "description": "Name."}},
                    {"timeout": {"type": "integer", "default": "30"}},
                    {"ratio": {"type": "number"}},
                ],
                "required": ["queue_name"],
            },
        },
        {
            "title": "Integration",
            "schema": {
                "properties": [
                    {"mode": {"type": "string", "enum": ["BEST", "ALL"], "default": "BEST"}},
                    {"enabled": {"type": "Boolean", "default": False}},
                    {"api_key": {"type": "string", "sensitive": "true", "help": "https://example.invalid/help"}},
                    {"client_secret": {"type": "string", "sensitive": True, "default": "changeme"}},
                ],
                "required": ["api_key"],
            },
        },
    ]
)


def test_pages_flatten_in_order_with_types_and_pages() -> None:
    form = form_from_spec(TWO_PAGES)
    assert [p.name for p in form.parameters] == ["queue_name", "timeout", "ratio", "mode", "enabled", "api_key", "client_secret"]
    assert {p.page for p in form.parameters} == {"Queue", "Integration"}
    by = {p.name: p for p in form.parameters}
    assert by["enabled"].type == "boolean" and by["enabled"].default == "false"
    assert by["timeout"].type == "integer" and by["ratio"].type == "number"
    assert by["api_key"].sensitive and by["api_key"].help_url and by["api_key"].required
    assert form.sensitive_names == {"api_key", "client_secret"}


def test_older_specs_with_fields_become_required_strings() -> None:
    form = form_from_spec(_spec([{"title": "Page 1", "fields": ["a", "b"]}]))
    assert [(p.name, p.type, p.required) for p in form.parameters] == [("a", "string", True), ("b", "string", True)]


def test_json_schema_types_defaults_and_secrets() -> None:
    schema = json_schema(form_from_spec(TWO_PAGES))
    props = schema["properties"]
    assert schema["required"] == ["queue_name", "api_key"]
    assert props["timeout"]["default"] == 30 and props["enabled"]["default"] is False
    assert props["mode"]["enum"] == ["BEST", "ALL"] and props["mode"]["default"] == "BEST"
    assert props["api_key"]["writeOnly"] is True
    assert "default" not in props["client_secret"], "a sensitive default is never published"
    assert "changeme" not in json.dumps(schema)


def test_describe_masks_sensitive_defaults() -> None:
    form = shown(form_from_spec(TWO_PAGES))
    description = describe(TWO_PAGES, form)
    secret = description.parameters_schema["properties"]["client_secret"]
    assert secret["writeOnly"] is True and "default" not in secret
    assert "client_secret" not in description.parameters_schema["required"], "it has a default: it may be left out"
    assert form.get("client_secret").default == MASK  # type: ignore[union-attr]
    assert f"client_secret [string; optional; default {MASK!r}; sensitive]" in render_description(description, form)
    assert "changeme" not in description.model_dump_json() + render_description(description, form)


def test_the_schema_describes_each_parameter_once_with_its_label_help_and_page() -> None:
    form = form_from_spec(TWO_PAGES)
    props = json_schema(form)["properties"]
    assert {name: prop["x-page"] for name, prop in props.items()} == {p.name: p.page for p in form.parameters}
    assert props["queue_name"]["description"] == "Name." and "title" not in props["queue_name"], "the label is the name"
    assert props["api_key"]["x-help-url"] == "https://example.invalid/help" and props["api_key"]["writeOnly"] is True
    one_page = form.model_copy(update={"parameters": [p for p in form.parameters if p.page == "Queue"]})
    assert not any("x-page" in prop for prop in json_schema(one_page)["properties"].values())


def test_valid_values_convert_to_wire_strings_and_defaults_apply() -> None:
    wire, problems = validate_parameters(
        form_from_spec(TWO_PAGES), {"queue_name": "vip", "ratio": 0.5, "enabled": "TRUE", "api_key": "k", "timeout": 12.0}
    )
    assert problems == []
    assert wire == {
        "queue_name": "vip",
        "timeout": "12",
        "ratio": "0.5",
        "mode": "BEST",
        "enabled": "true",
        "api_key": "k",
        "client_secret": "changeme",
    }
    assert [(p.name, p.value) for p in wire_parameters(wire)][:2] == [("queue_name", "vip"), ("timeout", "12")]


def test_every_problem_is_reported_at_once() -> None:
    _, problems = validate_parameters(
        form_from_spec(TWO_PAGES),
        {"queue_name": "", "timeout": 1.5, "ratio": "NaN", "mode": "best", "enabled": "yes", "colour": "red"},
    )
    kinds = {p.parameter: p.kind for p in problems}
    assert kinds == {
        "colour": "unknown",
        "queue_name": "missing",
        "timeout": "wrong_type",
        "ratio": "wrong_type",
        "mode": "not_allowed",
        "enabled": "wrong_type",
        "api_key": "missing",
    }
    assert all(p.expected for p in problems)


@pytest.mark.parametrize("value", [True, [1], {"a": 1}, float("inf")])
def test_non_scalar_or_odd_values_are_wrong_types(value: Any) -> None:
    _, problems = validate_parameters(form_from_spec(TWO_PAGES), {"queue_name": "q", "api_key": "k", "timeout": value})
    assert [p.kind for p in problems] == ["wrong_type"]


def test_problem_messages_never_show_sensitive_values() -> None:
    form = form_from_spec(
        _spec([{"title": "p", "schema": {"properties": [{"pin": {"type": "integer", "sensitive": "true", "enum": ["1234"]}}]}}])
    )
    _, problems = validate_parameters(form, {"pin": "secret-pin-value"})
    _, not_allowed = validate_parameters(form, {"pin": 98765})
    assert problems and "secret-pin-value" not in problems[0].message
    assert not_allowed and "98765" not in not_allowed[0].message


def test_every_real_spec_converts_and_validates(real_specs_dir: Path) -> None:
    for path in sorted(real_specs_dir.glob("*.json")):
        spec = AcceleratorSpecification.model_validate_json(path.read_text())
        form = form_from_spec(spec)
        schema = json_schema(form)
        assert form.parameters, path.name
        values = {name: (False if prop["type"] == "boolean" else "x") for name, prop in schema["properties"].items()}
        wire, problems = validate_parameters(form, values)
        assert problems == [] and set(wire) == set(values), path.name


# --- Leniency: what the official SDKs tolerate, the forms tolerate too -------------------


@pytest.mark.parametrize(
    ("sensitive", "expected"),
    [("false", False), (" FALSE ", False), (False, False), (None, False), ("true", True), ("yes", True), (1, True), ("", True), ("no", True)],
)
def test_anything_but_a_clear_false_is_sensitive(sensitive: Any, expected: bool) -> None:
    prop: dict[str, Any] = {"type": "string"} if sensitive is None else {"type": "string", "sensitive": sensitive}
    form = form_from_spec(_spec([{"schema": {"properties": [{"key": prop}]}}]))
    assert form.parameters[0].sensitive is expected


def test_nulls_and_object_defaults_do_not_fail_the_spec() -> None:
    spec = _spec(
        [
            {"schema": {"properties": [{"bare": None}, None, {"blob": {"type": None, "default": {"a": [1]}, "enum": None}}], "required": None}},
            None,
        ],
        name=None,
        results={"entities": None},
        documentation=None,
    )
    form = form_from_spec(spec)
    assert spec.name == "" and spec.results is not None and spec.results.entities == []
    assert [(p.name, p.type, p.default) for p in form.parameters] == [("bare", "string", None), ("blob", "string", '{"a": [1]}')]


def test_a_spec_without_id_still_reads() -> None:
    assert AcceleratorSpecification.model_validate({"name": "No id"}).id == ""


def test_required_names_without_properties_are_required_strings() -> None:
    form = form_from_spec(_spec([{"title": "P", "schema": {"properties": [{"a": {"type": "integer"}}], "required": ["a", "ghost"]}}]))
    ghost = form.get("ghost")
    assert ghost is not None and (ghost.type, ghost.required, ghost.page) == ("string", True, "P")
    assert validate_parameters(form, {"a": 1})[1][0].parameter == "ghost"


def test_a_property_on_two_pages_merges_and_stays_required() -> None:
    form = form_from_spec(
        _spec(
            [
                {"title": "One", "schema": {"properties": [{"x": {"type": "integer", "description": "first"}}], "required": ["x"]}},
                {"title": "Two", "schema": {"properties": [{"x": {"type": "integer", "default": "4", "sensitive": "true"}}]}},
            ]
        )
    )
    [x] = form.parameters
    assert (x.required, x.description, x.default, x.sensitive, x.page) == (True, "first", "4", True, "One")

"""Accelerator specifications as the typed API serves them, read by the sandbox itself.

Spec files are untidy (JSON booleans and numbers where the API has strings, keys no API
model has, the old `fields` page format); Genesys serves them through typed models, so
the wire only ever carries the models' keys, every property scalar as a string, and a
`schema` on every page. `wire_spec` does that conversion once, at load time; `form_of`
reads the parameter form from the converted spec. Neither uses the client's code.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

SPEC_KEYS = (
    "id", "name", "description", "origin", "type", "classification", "tags",
    "permissions", "products", "documentation", "presentation", "results", "selfUri",
)  # fmt: skip
METADATA_KEYS = ("id", "name", "description", "origin", "type", "classification", "tags", "selfUri")
PROPERTY_TEXT_KEYS = ("type", "displayname", "description", "sensitive", "help", "default")
_STRING_LISTS = ("tags", "permissions", "products")


class SpecError(ValueError):
    """A file that cannot be served as an `AcceleratorSpecification`."""


def text(value: Any) -> str | None:
    """The API's string form of a JSON value: `true` -> "true", `3` -> "3", objects as JSON."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)


def _strings(value: Any, where: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise SpecError(f"{where} must be a list, not {type(value).__name__}")
    return [str(text(item)) for item in value if item is not None]


def _objects(value: Any, where: str) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise SpecError(f"{where} must be a list of objects")
    return value


def _compact(body: dict[str, Any]) -> dict[str, Any]:
    """Genesys leaves null fields out of its answers (and absent lists stay absent)."""
    return {key: value for key, value in body.items() if value is not None}


def _property(raw: Any) -> dict[str, Any]:
    prop = raw if isinstance(raw, dict) else {}
    if "displayname" not in prop and "displayName" in prop:
        prop = {**prop, "displayname": prop["displayName"]}
    wire: dict[str, Any] = {key: text(prop.get(key)) for key in PROPERTY_TEXT_KEYS}
    if prop.get("enum") is not None:
        wire["enum"] = _strings(prop["enum"], "enum")
    return _compact(wire)


def _schema(raw: dict[str, Any]) -> dict[str, Any]:
    properties = raw.get("properties")
    if isinstance(properties, dict):  # a JSON-Schema-style object
        properties = [{name: prop} for name, prop in properties.items()]
    pairs = [(str(name), prop) for entry in _objects(properties, "properties") for name, prop in entry.items()]
    return _compact(
        {
            "title": text(raw.get("title")),
            "description": text(raw.get("description")),
            "type": text(raw.get("type")),
            "properties": [{name: _property(prop)} for name, prop in pairs] if properties is not None else None,
            "required": _strings(raw["required"], "required") if raw.get("required") is not None else None,
        }
    )


def _page(raw: dict[str, Any]) -> dict[str, Any]:
    """One page; an old `fields` page becomes the schema the typed API would carry."""
    schema = raw.get("schema")
    if isinstance(schema, dict):
        return _compact({"title": text(raw.get("title")), "schema": _schema(schema)})
    names = _strings(raw.get("fields"), "fields")
    converted = {
        "description": raw.get("description"),
        "type": "object",
        "properties": [{name: {"type": "string"}} for name in names],
        "required": names,
    }
    return _compact({"title": text(raw.get("title")), "schema": _schema(converted)})


def wire_spec(raw: Any, collection: str) -> dict[str, Any]:
    """The specification exactly as served under `collection`; raises SpecError when it cannot be one."""
    if not isinstance(raw, dict):
        raise SpecError("a specification must be a JSON object")
    if not isinstance(raw.get("id"), str) or not raw["id"]:
        raise SpecError("a specification needs a string id")
    results = raw.get("results")
    if results is not None and not isinstance(results, dict):
        raise SpecError("results must be an object")
    wire: dict[str, Any] = {key: text(raw.get(key)) for key in ("id", "name", "description", "origin", "type", "classification")}
    wire |= {key: _strings(raw[key], key) for key in _STRING_LISTS if raw.get(key) is not None}
    if raw.get("documentation") is not None:
        wire["documentation"] = [
            _compact({"description": text(d.get("description")), "location": text(d.get("location"))})
            for d in _objects(raw["documentation"], "documentation")
        ]
    if raw.get("presentation") is not None:
        wire["presentation"] = [_page(page) for page in _objects(raw["presentation"], "presentation")]
    if results is not None:
        entities = _objects(results.get("entities"), "results.entities")
        wire["results"] = {
            "entities": [_compact({k: text(e.get(k)) for k in ("type", "description", "visibility")}) for e in entities]
        }
    wire["selfUri"] = text(raw.get("selfUri")) or f"{collection}/{wire['id']}"
    return {key: wire[key] for key in SPEC_KEYS if wire.get(key) is not None}


@dataclass(frozen=True)
class Parameter:
    """One parameter of a spec's form, as the sandbox validates and renders it."""

    name: str
    type: str = "string"
    required: bool = False
    default: str | None = None
    enum: tuple[str, ...] = ()
    sensitive: bool = False


def _kind(raw: str | None) -> str:
    kind = (raw or "string").strip().lower()
    return kind if kind in ("string", "boolean", "integer", "number") else "string"


def form_of(wire: dict[str, Any]) -> tuple[Parameter, ...]:
    """Every parameter across the pages, in form order; required anywhere means required."""
    found: dict[str, Parameter] = {}
    required: set[str] = set()
    for page in wire.get("presentation", []):
        schema = page.get("schema", {})
        required.update(schema.get("required", []))
        for entry in schema.get("properties", []):
            for name, prop in entry.items():
                found.setdefault(
                    name,
                    Parameter(
                        name=name,
                        type=_kind(prop.get("type")),
                        default=prop.get("default"),
                        enum=tuple(prop.get("enum", ())),
                        sensitive=str(prop.get("sensitive", "false")).strip().lower() != "false",
                    ),
                )
    for name in sorted(required - set(found)):
        found[name] = Parameter(name=name)
    return tuple(Parameter(**{**vars(p), "required": p.name in required}) for p in found.values())

"""Generated accelerator specifications: one large accelerator, or a catalogue of thousands.

They follow the shape of the built-in sandbox specs (presentation pages of JSON-Schema-ish
properties, results entities), so the sandbox parses and serves them like any other.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

ORIGINS = ("genesys", "partner", "community")
TYPES = ("module", "accelerator", "blueprint")
CLASSIFICATIONS = ("Routing", "Architect", "Integrations", "Messaging", "Workforce", "Outbound")
WORDS = ("queue", "callback", "survey", "webhook", "routing", "skills", "flow", "campaign", "bot", "wrapup", "digital", "voice")
RESOURCE_TYPES = ("queue", "flow", "skill", "wrapupcode", "integration", "dataaction")
_NAMESPACE = uuid.UUID("5a0f4c1e-8d2b-4e6a-9c3f-1b7d2e8a4c6f")


def _property(index: int) -> dict[str, Any]:
    kind = ("string", "integer", "boolean", "string")[index % 4]
    prop: dict[str, Any] = {"type": kind, "displayname": f"setting {index}", "description": f"How setting {index} behaves in the deployed resources"}
    if index % 4 == 3:
        prop["enum"] = ["low", "medium", "high"]
    if index % 5 == 0:
        prop["default"] = "medium" if "enum" in prop else {"string": f"default-{index}", "integer": str(index), "boolean": "true"}[kind]
    if index % 17 == 0 and kind == "string":
        prop["sensitive"] = "true"
    return {f"param_{index:03d}": prop}


def spec(index: int, *, parameters: int = 4, pages: int = 1, entities: int = 2) -> dict[str, Any]:
    """Accelerator `index`: a deterministic id, a searchable name, `parameters` over `pages` pages."""
    words = f"{WORDS[index % len(WORDS)]} {WORDS[(index // len(WORDS)) % len(WORDS)]}"
    per_page = -(-parameters // pages)
    presentation = []
    for page in range(pages):
        props = [_property(i) for i in range(page * per_page, min(parameters, (page + 1) * per_page))]
        presentation.append(
            {
                "title": f"Page {page + 1}",
                "schema": {
                    "title": f"Settings {page + 1}",
                    "description": "Generated settings",
                    "type": "object",
                    "properties": props,
                    "required": [name for p in props for name, v in p.items() if "default" not in v][:3],
                },
            }
        )
    return {
        "id": str(uuid.uuid5(_NAMESPACE, str(index))),
        "name": f"Generated {words} accelerator {index}",
        "description": f"A generated {words} accelerator for benchmarks, number {index}.",
        "origin": ORIGINS[index % len(ORIGINS)],
        "type": TYPES[index % len(TYPES)],
        "classification": CLASSIFICATIONS[index % len(CLASSIFICATIONS)],
        "tags": [WORDS[index % len(WORDS)], f"batch-{index % 50}"],
        "permissions": ["routing:queue:add", "architect:flow:add"],
        "products": ["Genesys Cloud CX 2"],
        "documentation": [{"description": "Generated docs", "location": f"https://example.com/docs/{index}"}],
        "presentation": presentation,
        "results": {
            "entities": [
                {"type": RESOURCE_TYPES[e % len(RESOURCE_TYPES)], "description": f"Resource {e}", "visibility": "VISIBLE"}
                for e in range(entities)
            ]
        },
    }


def write_catalog(directory: Path, count: int, **shape: int) -> list[str]:
    """Write `count` generated specs into `directory`; returns their ids."""
    ids = []
    for index in range(count):
        body = spec(index, **shape)
        (directory / f"generated-{index:05d}.json").write_text(json.dumps(body), encoding="utf-8")
        ids.append(body["id"])
    return ids

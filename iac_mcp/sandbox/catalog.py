"""The sandbox's accelerator catalogue: built-in specs plus any `*.json` directories.

Each file is converted once into the specification the typed API would serve
(`spec.wire_spec`) and its parameter form (`spec.form_of`); a file that cannot be one
fails here, naming the file.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from iac_mcp.sandbox.spec import METADATA_KEYS, Parameter, SpecError, form_of, wire_spec

logger = logging.getLogger(__name__)

BUILTIN_DIR = Path(__file__).parent / "catalog"
ACCELERATORS_PATH = "/api/v2/infrastructureascode/accelerators"


class CatalogError(ValueError):
    """A spec file that cannot be loaded. The message names the file."""


@dataclass(frozen=True)
class Spec:
    """The fields of a specification that listing, filtering and jobs read."""

    id: str
    name: str
    description: str | None
    origin: str | None
    type: str | None
    classification: str | None
    tags: tuple[str, ...]
    permissions: tuple[str, ...]
    results: tuple[tuple[str, str], ...] = field(default=())
    """(type, visibility) of each result entity."""


@dataclass(frozen=True)
class CatalogEntry:
    """One accelerator: its served JSON, the fields read from it, its form and its file."""

    wire_json: dict[str, Any]
    spec: Spec
    form: tuple[Parameter, ...]
    source: Path

    def wire(self) -> dict[str, Any]:
        """The specification as served."""
        return self.wire_json

    def metadata(self) -> dict[str, Any]:
        """The listing entry (an `AcceleratorMetadata`)."""
        return {key: self.wire_json[key] for key in METADATA_KEYS if key in self.wire_json}


def entry_from(raw: Any, source: Path) -> CatalogEntry:
    """A catalogue entry from a spec's JSON; raises SpecError when it is not a spec."""
    wire = wire_spec(raw, ACCELERATORS_PATH)
    results = tuple((e.get("type", ""), e.get("visibility", "")) for e in wire.get("results", {}).get("entities", []))
    spec = Spec(
        id=wire["id"],
        name=wire.get("name", ""),
        description=wire.get("description"),
        origin=wire.get("origin"),
        type=wire.get("type"),
        classification=wire.get("classification"),
        tags=tuple(wire.get("tags", ())),
        permissions=tuple(wire.get("permissions", ())),
        results=results,
    )
    return CatalogEntry(wire_json=wire, spec=spec, form=form_of(wire), source=source)


def load_file(path: Path) -> CatalogEntry:
    """Parse one spec file; raise CatalogError naming the file when it is not a valid spec."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CatalogError(f"cannot read accelerator spec {path}: {exc}") from exc
    try:
        return entry_from(raw, path)
    except SpecError as exc:
        raise CatalogError(f"invalid accelerator spec {path}: {exc}") from exc


def _spec_files(directory: Path) -> Iterator[Path]:
    if not directory.is_dir():
        raise CatalogError(f"accelerator directory {directory} does not exist")
    yield from sorted(directory.glob("*.json"))


def load_catalog(directories: Iterable[Path]) -> dict[str, CatalogEntry]:
    """Every spec of the directories, by id, in order. A later file wins a duplicate id, with a warning."""
    entries: dict[str, CatalogEntry] = {}
    for directory in directories:
        for path in _spec_files(Path(directory)):
            entry = load_file(path)
            previous = entries.get(entry.spec.id)
            if previous is not None:
                logger.warning("accelerator id %s is in both %s and %s: using %s", entry.spec.id, previous.source, path, path)
            entries[entry.spec.id] = entry
    return entries

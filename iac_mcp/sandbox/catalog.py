"""The sandbox's accelerator catalogue: built-in specs plus any `*.json` directories.

Each spec is parsed with the project's `AcceleratorSpecification` (so a spec the MCP
server cannot read fails here, naming its file), but the sandbox serves the original
JSON, so fields the models do not know pass through exactly as Genesys would send them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from iac_mcp.genesys.models import AcceleratorSpecification
from iac_mcp.logic.forms import ParameterForm, form_from_spec

logger = logging.getLogger(__name__)

BUILTIN_DIR = Path(__file__).parent / "catalog"
ACCELERATORS_PATH = "/api/v2/infrastructureascode/accelerators"
METADATA_FIELDS = ("id", "name", "description", "origin", "type", "classification", "tags")


class CatalogError(ValueError):
    """A spec file that cannot be loaded. The message names the file."""


@dataclass(frozen=True)
class CatalogEntry:
    """One accelerator: its parsed spec, its parameter form and its original JSON."""

    spec: AcceleratorSpecification
    form: ParameterForm
    raw: dict[str, Any]
    source: Path

    @property
    def self_uri(self) -> str:
        return f"{ACCELERATORS_PATH}/{self.spec.id}"

    def wire(self) -> dict[str, Any]:
        """The specification as served: the original JSON, with `selfUri` filled in if absent."""
        return {**self.raw, "selfUri": self.raw.get("selfUri") or self.self_uri}

    def metadata(self) -> dict[str, Any]:
        """The listing entry: the metadata fields of the original JSON plus `selfUri`."""
        meta = {key: self.raw[key] for key in METADATA_FIELDS if key in self.raw}
        meta["selfUri"] = self.raw.get("selfUri") or self.self_uri
        return meta


def load_file(path: Path) -> CatalogEntry:
    """Parse one spec file; raise CatalogError naming the file when it is not a valid spec."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CatalogError(f"cannot read accelerator spec {path}: {exc}") from exc
    if not isinstance(raw, dict):
        raise CatalogError(f"accelerator spec {path} is not a JSON object")
    try:
        spec = AcceleratorSpecification.model_validate(raw)
    except ValidationError as exc:
        raise CatalogError(f"invalid accelerator spec {path}: {exc}") from exc
    return CatalogEntry(spec=spec, form=form_from_spec(spec), raw=raw, source=path)


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
                logger.warning(
                    "accelerator id %s is in both %s and %s: using %s",
                    entry.spec.id,
                    previous.source,
                    path,
                    path,
                )
            entries[entry.spec.id] = entry
    return entries

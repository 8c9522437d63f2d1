"""The server's one completion handler: ids for prompt arguments and resource templates.

* `accelerator_id` completes from the catalogue: first the ids that start with what was
  typed (sorted by id), then the ids whose accelerator *name* has a word starting with
  each typed word (sorted by name). MCP completion values are bare strings with no
  label, so both kinds are ids; the order is what tells them apart.
* `job_id` completes from the newest jobs: ids starting with what was typed, then the
  jobs of an accelerator whose id starts with it, each newest first.
* `status` (review-recent-jobs) completes from the job statuses Genesys can filter by.

Answers hold at most 100 values, with `total` and `has_more` telling how many matched.
The catalogue and the job history come from the cached `Services.lookups`, so typing
never pages through the catalogue per keystroke.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from mcp.server.mcpserver import MCPServer
from mcp.types import Completion, CompletionArgument, CompletionContext, PromptReference, ResourceTemplateReference

from iac_mcp.genesys.models import HISTORY_STATUS_FILTERS
from iac_mcp.server.lookup import CatalogueItem
from iac_mcp.server.resources import ACCELERATOR_URI, JOB_URI
from iac_mcp.server.services import current_services

MAX_VALUES = 100
"""The MCP limit on values in one completion answer."""

MAX_TYPED = 200
"""Characters of the typed value considered; ids and names are far shorter."""

_WORD = re.compile(r"[^\W_]+")


def bounded(ranked: Sequence[str]) -> Completion:
    """The first MAX_VALUES values, with the honest total."""
    return Completion(values=list(ranked[:MAX_VALUES]), total=len(ranked), has_more=len(ranked) > MAX_VALUES)


def _words(text: str) -> list[str]:
    return _WORD.findall(text.casefold())


def match_accelerators(items: Sequence[CatalogueItem], typed: str) -> list[str]:
    """Ids starting with `typed` (by id), then ids whose name has a word starting with each typed word (by name)."""
    text = typed.strip().casefold()
    by_id = sorted((item.id for item in items if item.id.casefold().startswith(text)), key=str.casefold)
    typed_words = _words(text)
    if not typed_words:
        return by_id
    taken = set(by_id)
    by_name = sorted(
        (
            item
            for item in items
            if item.id not in taken and all(any(word.startswith(t) for word in _words(item.name)) for t in typed_words)
        ),
        key=lambda item: (item.name.casefold(), item.id),
    )
    return by_id + [item.id for item in by_name]


def match_jobs(recent: Sequence[tuple[str, str]], typed: str) -> list[str]:
    """Job ids starting with `typed`, then jobs of an accelerator whose id starts with it; newest first."""
    text = typed.strip().casefold()
    by_id = [job_id for job_id, _ in recent if job_id.casefold().startswith(text)]
    taken = set(by_id)
    by_accelerator = [
        job_id for job_id, accelerator in recent if job_id not in taken and text and accelerator.casefold().startswith(text)
    ]
    return by_id + by_accelerator


async def complete(
    ref: PromptReference | ResourceTemplateReference, argument: CompletionArgument, context: CompletionContext | None
) -> Completion | None:
    """Completions for our prompt arguments and resource templates; None for anything else."""
    state = current_services()
    if state is None or (isinstance(ref, ResourceTemplateReference) and ref.uri not in (ACCELERATOR_URI, JOB_URI)):
        return None
    typed = argument.value[:MAX_TYPED]
    chosen = (context.arguments or {}).get("org") if context is not None else None
    here = state.orgs.get(chosen or state.default_org, state.default)
    if argument.name == "org":
        return bounded([name for name in state.orgs if name.startswith(typed.strip().casefold())])
    if argument.name == "accelerator_id":
        return bounded(match_accelerators(await here.lookups.catalogue(here.client), typed))
    if argument.name == "job_id":
        return bounded(match_jobs(await here.lookups.recent_jobs(here.client), typed))
    if argument.name == "status" and isinstance(ref, PromptReference):
        return bounded([s for s in HISTORY_STATUS_FILTERS if s.casefold().startswith(typed.strip().casefold())])
    return None


def register(server: MCPServer) -> None:
    server.completion()(complete)  # type: ignore[no-untyped-call]  # mcp 2.3's decorator is untyped

"""`GET /accelerators` (filtered, sorted, paged listing) and `GET /accelerators/{id}`."""

from __future__ import annotations

from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from iac_mcp.sandbox.catalog import ACCELERATORS_PATH, CatalogEntry
from iac_mcp.sandbox.checks import ApiError, authorize, choice_query
from iac_mcp.sandbox.paging import page_of, page_query
from iac_mcp.sandbox.vocabulary import LANGUAGES, ORIGINS, SORT_ORDERS, TYPES, VIEW_ACCELERATORS, same

ACCELERATOR_SORTS: dict[str, Callable[[CatalogEntry], str]] = {
    "name": lambda e: e.spec.name,
    "id": lambda e: e.spec.id,
    "type": lambda e: e.spec.type or "",
    "origin": lambda e: e.spec.origin or "",
    "classification": lambda e: e.spec.classification or "",
}


def _filter(request: Request) -> Callable[[CatalogEntry], bool]:
    """The listing's filters, read from the query once per request rather than once per entry."""
    query = request.query_params
    contains = [(f, query[f].casefold()) for f in ("name", "description") if query.get(f)]
    equals = [(f, query[f]) for f in ("origin", "type", "classification") if query.get(f)]
    tags = [t.strip() for raw in query.getlist("tags") for t in raw.split(",") if t.strip()]

    def matches(entry: CatalogEntry) -> bool:
        spec = entry.spec
        return (
            all(wanted in (getattr(spec, f) or "").casefold() for f, wanted in contains)
            and all(same(wanted, getattr(spec, f)) for f, wanted in equals)
            and (not tags or any(same(tag, have) for tag in tags for have in spec.tags))
        )

    return matches


async def list_accelerators(request: Request) -> Response:
    state = authorize(request, VIEW_ACCELERATORS).state
    page = page_query(request)
    choice_query(request, "origin", ORIGINS)
    choice_query(request, "type", TYPES)
    sort_key = ACCELERATOR_SORTS[str(choice_query(request, "sortBy", tuple(ACCELERATOR_SORTS), "name"))]
    descending = choice_query(request, "sortOrder", SORT_ORDERS, "asc") == "desc"
    found = sorted(
        filter(_filter(request), state.catalog.values()),
        key=lambda e: (sort_key(e).casefold(), e.spec.id),
        reverse=descending,
    )
    return JSONResponse(page_of(request, ACCELERATORS_PATH, [e.metadata() for e in found], page))


async def get_accelerator(request: Request) -> Response:
    state = authorize(request, VIEW_ACCELERATORS).state
    choice_query(request, "preferredLanguage", LANGUAGES)
    accelerator_id = request.path_params["acceleratorId"]
    entry = state.catalog.get(accelerator_id)
    if entry is None:
        raise ApiError(404, "resource.not.found", "Accelerator {id} not found.", params={"id": accelerator_id[:100]})
    return JSONResponse(entry.wire())
